/**
 * Shuffles `items` in place (Fisher–Yates) and returns them. `random` returns a number in [0, 1), like
 * Math.random; a test or the simulator passes a seeded one to get the same order every run.
 */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
