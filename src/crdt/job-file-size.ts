/** Its own module so meshctl can bound a read without loading the YAML parser. */
export const MAX_JOB_FILE_BYTES = 256 * 1024;
