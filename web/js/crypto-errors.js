// Sorts the crypto library's error messages (kluis-crypto's Display texts)
// into the few cases the pages explain to people.

/**
 * 'no_match': the key does not open the file (wrong password, changed link);
 * 'damaged': the file was modified, cut short or is not an age file;
 * undefined: anything else.
 */
export function cryptoErrorKind(message) {
  const text = String(message);
  if (text.startsWith('no identity matched')) return 'no_match';
  if (
    /failed authentication|authentication code does not match|damaged encrypted data|invalid age header|truncated|unexpected data after|final chunk|not an age-encrypted file|the input is empty|not the file that was sent/.test(text)
  ) {
    return 'damaged';
  }
  return undefined;
}
