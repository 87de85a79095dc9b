/**
 * Makes remote text (error messages, file names, statuses from RunComfy or from history) safe to
 * print on an operator's terminal: escape sequences could recolour, move the cursor, rewrite the
 * window title, plant links or hide text; bidirectional overrides can disguise what is shown.
 * Newlines and tabs stay; everything else that is a control is removed. Pure.
 */

// Whole escape sequences first, so no "[31m" residue remains: CSI (ESC [ … final), OSC
// (ESC ] … BEL or ESC \), DCS/SOS/PM/APC strings, and two-byte escapes; the 8-bit C1 forms too.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const ESCAPE_SEQUENCES = /\u001b\[[0-?]*[ -/]*[@-~]|\u009b[0-?]*[ -/]*[@-~]|(?:\u001b[\]PX^_]|[\u009d\u0090\u0098\u009e\u009f])[\s\S]*?(?:\u0007|\u001b\\|\u009c|$)|\u001b[@-Z\\-_ -/]*[0-~]?/g;
// Remaining C0 controls except \t and \n, DEL, C1 controls, bidi embeddings/overrides/isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with escape sequences and control characters removed (newlines and tabs kept). */
export function terminalSafe(text: string): string {
  return text.replace(ESCAPE_SEQUENCES, '').replace(/\r\n?/g, '\n').replace(CONTROLS, '');
}

/** {@link terminalSafe} for one line: newlines and tabs become spaces too. */
export function terminalSafeLine(text: string): string {
  return terminalSafe(text).replace(/[\n\t]/g, ' ');
}
