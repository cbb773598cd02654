// A user data stage's data as the spec holds it: plain text, or base64 of text (the original accepted
// both). The renderers (bootstrap.ts) and the checks of what a family can honour (os-family.ts) both read
// stages through it. Pure.

/** A stage's data as text: decoded when it is base64 of text, else as it is. */
export function decodeStageData(data: string): string {
  const trimmed = data.trim();
  if (trimmed.length >= 8 && trimmed.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) {
    const decoded = Buffer.from(trimmed, 'base64').toString('utf8');
    // Only accept it when it round-trips and reads as text; a plain word like "abcdabcd" stays as is.
    const printable = [...decoded].every(
      (ch) => ch === '\t' || ch === '\n' || ch === '\r' || (ch >= ' ' && ch <= '~'),
    );
    if (Buffer.from(decoded, 'utf8').toString('base64') === trimmed && printable && /\s/.test(decoded))
      return decoded;
  }
  return data;
}
