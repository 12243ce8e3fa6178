/**
 * Patient ids from file names of the Kermany chest X-ray set (see shared/data/chest_xray/README.md):
 *   person1000_bacteria_2931.jpeg → person1000            (pneumonia, patient 1000)
 *   IM-0115-0001.jpeg             → IM-0115                (normal, first batch, patient 0115)
 *   NORMAL2-IM-0381-0001-0002.jpeg → NORMAL2-IM-0381       (normal, second batch)
 * Several images of one patient must land in the same split, or validation leaks.
 */
const PATTERNS: readonly RegExp[] = [/^(person\d+)_(?:bacteria|virus)_/i, /^((?:NORMAL\d+-)?IM-\d+)-\d+/i];

/** The patient id, or undefined when the name follows no known pattern. */
export function patientIdOf(fileName: string): string | undefined {
  for (const re of PATTERNS) {
    const m = re.exec(fileName);
    if (m?.[1] !== undefined) return m[1];
  }
  return undefined;
}
