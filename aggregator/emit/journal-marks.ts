// Which journaled changes a KernelWhisper's count already holds, per replica journal (ADR 0014,
// "Marks"). A replica gives every counted change it journals a mark, increasing per replica
// (Journal.nextMark); a status write carries, per journal, the highest mark of a change the
// write's count holds, in `status.journals` — written by the same server-side apply as the count,
// like the delivery ledger (ledger.ts), so "counted" and "marked" never disagree. A replayed
// journal entry whose mark the object holds for its journal is not counted again, even when the
// delivery ledger, bounded to 64 agents, has forgotten its batch.

/** A change's mark in one replica's journal. */
export interface JournalMark {
  journal: string;
  mark: number;
}

/** Journals kept per whisper: the most recent marks (a replay comes within minutes of a crash). */
export const JOURNAL_MARKS_MAX = 16;

/** Per journal, the highest mark the object's count holds. */
export type JournalMarks = Map<string, number>;

/** Whether the object (as `marks` say) holds the change marked `m`. */
export function holdsMark(marks: JournalMarks, m: JournalMark | undefined): boolean {
  if (!m) return false;
  const held = marks.get(m.journal);
  return held !== undefined && held >= m.mark;
}

/** Raises `marks` to hold `m`. */
export function addMark(marks: JournalMarks, m: JournalMark): void {
  const held = marks.get(m.journal);
  if (held === undefined || m.mark > held) marks.set(m.journal, m.mark);
}

/** `status.journals` as read: malformed entries (hand edits) are counted and left out. */
export function parseMarks(value: unknown): { marks: JournalMarks; malformed: number } {
  const marks: JournalMarks = new Map();
  if (value === undefined || value === null) return { marks, malformed: 0 };
  if (typeof value !== "object" || Array.isArray(value)) return { marks, malformed: 1 };
  let malformed = 0;
  for (const [journal, mark] of Object.entries(value as Record<string, unknown>)) {
    if (typeof mark === "number" && Number.isSafeInteger(mark) && mark > 0) marks.set(journal, mark);
    else malformed++;
  }
  return { marks, malformed };
}

/** `status.journals` to write: `held` raised by `pending`, the JOURNAL_MARKS_MAX most recent. */
export function renderMarks(
  held: JournalMarks,
  pending: Iterable<JournalMark>,
): Record<string, number> | undefined {
  const all = new Map(held);
  for (const m of pending) addMark(all, m);
  if (all.size === 0) return undefined;
  const kept = [...all].sort((a, b) => b[1] - a[1]).slice(0, JOURNAL_MARKS_MAX);
  return Object.fromEntries(kept.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}
