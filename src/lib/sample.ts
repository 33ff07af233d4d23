/** Up to `n` of `items`, picked uniformly at random (a partial Fisher-Yates shuffle); `items` is not changed. */
export function sample<T>(items: readonly T[], n: number, random: () => number): T[] {
  const copy = [...items];
  const take = Math.min(n, copy.length);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, take);
}
