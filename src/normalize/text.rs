//! The text rule shared by every field: mojibake repair, HTML-to-text, entity decoding,
//! NFC, whitespace collapse, placeholder removal; plus script detection used to guess or
//! check a value's language.

use std::borrow::Cow;
use std::ops::ControlFlow;
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// How whitespace runs are collapsed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Everything on one line: every whitespace run becomes one space.
    Line,
    /// Paragraphs kept: a run holding a blank line (or an HTML block break) becomes `\n\n`.
    Block,
}

/// A cleaned value and whether mojibake was repaired on the way.
pub(crate) struct Cleaned<'a> {
    /// Borrowed when the value was already clean.
    pub text: Cow<'a, str>,
    pub repaired: bool,
}

/// Normalizes one text value on a single line; `None` when empty or a placeholder.
pub fn normalize_text(s: &str) -> Option<String> {
    clean(s, Mode::Line).map(|c| c.text.into_owned())
}

/// Whether the text rule leaves anything of `s` (no copy when `s` is already clean).
pub(crate) fn keeps_text(s: &str) -> bool {
    clean(s, Mode::Line).is_some()
}

/// The full text rule; `None` when nothing meaningful is left.
pub(crate) fn clean(raw: &str, mode: Mode) -> Option<Cleaned<'_>> {
    let scan = Scan::of(raw);
    if scan.is_clean() {
        return (!is_placeholder(raw)).then_some(Cleaned {
            text: Cow::Borrowed(raw),
            repaired: false,
        });
    }
    // Markup and entities in text that needs no NFC or mojibake repair (most abstracts):
    // one pass, one buffer.
    if !scan.nfc_check
        && !scan.mojibake
        && (scan.lt || scan.amp)
        && let Some((text, odd_chars)) = markup_one_pass(raw, mode, scan.amp)
    {
        // As below: decoded entities can be combining marks.
        let text = if scan.amp && odd_chars {
            nfc(Cow::Owned(text)).into_owned()
        } else {
            text
        };
        if text.is_empty() || is_placeholder(&text) {
            return None;
        }
        return Some(Cleaned {
            text: Cow::Owned(text),
            repaired: false,
        });
    }
    clean_in_passes(raw, mode, &scan)
}

/// The text rule step by step, for values [`markup_one_pass`] does not take.
fn clean_in_passes<'a>(raw: &'a str, mode: Mode, scan: &Scan) -> Option<Cleaned<'a>> {
    // NFC first: a decomposed `Â` must be seen as the mojibake it is.
    let mut s = if scan.nfc_check {
        nfc(Cow::Borrowed(raw))
    } else {
        Cow::Borrowed(raw)
    };
    let mut repaired = false;
    if (scan.mojibake || scan.nfc_check)
        && let Some(fixed) = repair_mojibake(&s)
    {
        s = Cow::Owned(fixed);
        repaired = true;
    }
    let mut recheck = repaired;
    if scan.lt || (repaired && s.contains('<')) {
        s = Cow::Owned(strip_tags(&s));
    }
    if scan.amp || (repaired && s.contains('&')) {
        // Borrowed back when nothing was decoded: no copy, and no new tags to strip.
        if let Cow::Owned(decoded) = htmlize::unescape(s.as_ref()) {
            // Triple-escaped markup (`&lt;p&gt;`) only shows its tags after this decode.
            s = if decoded.contains('<') && decoded != s.as_ref() {
                Cow::Owned(strip_tags(&decoded))
            } else {
                Cow::Owned(decoded)
            };
        }
        recheck = true;
    }
    let (text, odd_chars) = collapse(&s, mode);
    // Decoded entities can be combining marks; repaired text can be decomposed.
    let text = if recheck && odd_chars {
        nfc(Cow::Owned(text)).into_owned()
    } else {
        text
    };
    if text.is_empty() || is_placeholder(&text) {
        return None;
    }
    Some(Cleaned {
        text: Cow::Owned(text),
        repaired,
    })
}

/// What one pass over a raw value found: which steps of the rule can change it.
/// Most values need none of them.
struct Scan {
    /// Some character is not trivially NFC (needs the table check).
    nfc_check: bool,
    /// A mojibake lead (`Ã`, `Р`) followed by another non-ASCII character.
    mojibake: bool,
    lt: bool,
    amp: bool,
    /// Whitespace to collapse or invisible characters to drop.
    spacing: bool,
}

impl Scan {
    fn of(s: &str) -> Self {
        let bytes = s.as_bytes();
        // ASCII-level facts by whole-slice searches (vectorized), then a pass over the
        // non-ASCII sequences only. Short values (names, dates, types) get all of them
        // from one pass of eight-byte words: four searches cost more there.
        let short = (bytes.len() <= SHORT_VALUE).then(|| ShortFacts::of(bytes));
        let (lt, amp) = match &short {
            Some(f) => (f.lt, f.amp),
            None => (
                memchr::memchr(b'<', bytes).is_some(),
                memchr::memchr(b'&', bytes).is_some(),
            ),
        };
        let mut scan = Scan {
            nfc_check: false,
            mojibake: false,
            lt,
            amp,
            // Markup or entities mean a rebuild anyway: the spacing test only matters
            // for deciding whether the value is already clean.
            spacing: !(lt || amp)
                && (bytes.first().is_none_or(|b| b.is_ascii_whitespace())
                    || bytes.last().is_some_and(|b| b.is_ascii_whitespace())
                    || short.as_ref().map_or_else(
                        || has_control_or_double_space(bytes),
                        |f| f.control_or_double_space,
                    )),
        };
        if short.as_ref().map_or_else(|| s.is_ascii(), |f| f.ascii) {
            return scan;
        }
        let mut i = 0;
        // End of the previous non-ASCII character if it was a mojibake lead (`Ã`, `Р`).
        let mut suspect_end = usize::MAX;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                // One space between words is the usual case: no word-at-a-time setup.
                i += 1;
                if bytes.get(i).is_some_and(|&c| c < 0x80) {
                    i = skip_ascii(bytes, i);
                }
                continue;
            }
            // Basic Cyrillic letters other than `Р`/`С` (the mojibake leads) change nothing:
            // the rest of the word is skipped pair by pair.
            if plain_cyrillic_at(bytes, i) {
                i = skip_cyrillic_text(bytes, i + 2);
                continue;
            }
            let follows_suspect = suspect_end == i;
            // Two-byte sequences (Latin-1, Latin Extended, Cyrillic) decoded inline: the
            // bulk of Russian text.
            if (0xC2..=0xDF).contains(&b)
                && let Some(&b2) = bytes.get(i + 1)
            {
                let cp = (u32::from(b & 0x1F) << 6) | u32::from(b2 & 0x3F);
                i += 2;
                if follows_suspect && !(0x410..=0x44F).contains(&cp) {
                    scan.mojibake = true;
                }
                if matches!(cp, 0xC0..=0xFF | 0x420 | 0x421) {
                    suspect_end = i;
                }
                if !(cp < 0x300 || (0x400..=0x482).contains(&cp) || (0x48A..=0x52F).contains(&cp)) {
                    scan.nfc_check = true;
                }
                if matches!(cp, 0x80..=0xA0 | 0xAD) {
                    scan.spacing = true;
                }
                continue;
            }
            let Some(c) = s.get(i..).and_then(|t| t.chars().next()) else {
                break;
            };
            i += c.len_utf8();
            if follows_suspect {
                scan.mojibake = true;
            }
            if !trivially_nfc(c) {
                scan.nfc_check = true;
            }
            if c.is_whitespace()
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202F}' | '\u{2060}' | '\u{FEFF}')
            {
                scan.spacing = true;
            }
        }
        scan
    }

    fn is_clean(&self) -> bool {
        !(self.nfc_check || self.mojibake || self.lt || self.amp || self.spacing)
    }
}

/// `char::is_alphabetic`, with ASCII and basic Cyrillic (`А`–`я`) answered without the
/// Unicode table (names and dates are mostly these; the table lookup was a tenth of
/// `person_from`).
#[inline]
pub(crate) fn is_alphabetic(c: char) -> bool {
    c.is_ascii_alphabetic()
        || ('\u{410}'..='\u{44F}').contains(&c)
        || (!c.is_ascii() && c.is_alphabetic())
}

/// Whether a basic Cyrillic letter other than `Р`/`С` (the mojibake leads) starts at `i`,
/// a character boundary of `bytes` (valid UTF-8).
#[inline]
fn plain_cyrillic_at(bytes: &[u8], i: usize) -> bool {
    if i + 1 >= bytes.len() {
        return false;
    }
    // At a boundary `D0`/`D1` are followed by a continuation byte, so `А`–`я` are the
    // 16-bit values D0 90 – D1 8F, and `Р`/`С` are D0 A0/D0 A1: two compares, where the
    // byte-wise test took four and twice the instructions.
    plain_cyrillic_pair(bytes[i], bytes[i + 1])
}

#[inline(always)]
fn plain_cyrillic_pair(b: u8, b2: u8) -> bool {
    let v = u16::from_be_bytes([b, b2]);
    v.wrapping_sub(0xD090) < 0x100 && v & !1 != 0xD0A0
}

/// From `i` (a character boundary), past the letters [`plain_cyrillic_at`] takes. Kept
/// out of line: inside `Scan::of` the loop reloaded the slice and checked bounds twice a
/// letter.
#[inline(never)]
fn skip_plain_cyrillic(bytes: &[u8], i: usize) -> usize {
    let Some(rest) = bytes.get(i..) else {
        return i;
    };
    let letters = rest
        .chunks_exact(2)
        .take_while(|p| matches!(p, [b, b2] if plain_cyrillic_pair(*b, *b2)))
        .count();
    i + 2 * letters
}

/// From `i`, a character boundary right after a basic Cyrillic letter, past the text
/// that sets nothing in [`Scan::of`]: eight bytes at a time over ASCII and the two-byte
/// characters led by `D0`/`D1` other than `Р`/`С`, then letter by letter. (The letters
/// outside `А`–`я` among those would matter only right after a mojibake lead; every
/// other lead stops the words, and the scan enters after a plain letter.)
fn skip_cyrillic_text(bytes: &[u8], mut i: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        i = sse2::skip_cyrillic_text(bytes, i);
    }
    const D0S: u64 = 0xD0D0_D0D0_D0D0_D0D0;
    const A0S: u64 = 0xA0A0_A0A0_A0A0_A0A0;
    const NOT_BIT0: u64 = 0xFEFE_FEFE_FEFE_FEFE;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Lead bytes (11xxxxxx); those other than D0/D1; D0 followed by A0/A1 (`Р`, `С`).
        let leads = x & (x << 1) & HIGH_BITS;
        let other_leads = leads & !zero_bytes((x & NOT_BIT0) ^ D0S);
        let mojibake_leads = zero_bytes(x ^ D0S) & (zero_bytes((x & NOT_BIT0) ^ A0S) >> 8);
        if other_leads | mojibake_leads != 0 {
            break;
        }
        // A lead in the last byte: its character (maybe `Р`) is read with the next word.
        i += if leads >> 63 == 0 { 8 } else { 7 };
    }
    skip_plain_cyrillic(bytes, i)
}

/// `str::trim`, without decoding when `s` starts and ends with a printable ASCII
/// character or a basic Cyrillic letter (never whitespace): most names and keywords.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let starts = b
        .first()
        .is_some_and(|&c| c.is_ascii_graphic() || matches!(c, 0xD0 | 0xD1));
    // A `D0`/`D1` before the last byte is the lead of the last character.
    let ends = match b {
        [.., lead, last] => last.is_ascii_graphic() || matches!(lead, 0xD0 | 0xD1),
        [last] => last.is_ascii_graphic(),
        [] => false,
    };
    if starts && ends { s } else { s.trim() }
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Index of the first non-ASCII byte at or after `i` (eight bytes at a time).
fn skip_ascii(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if u64::from_le_bytes(word) & HIGH_BITS != 0 {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i] < 0x80 {
        i += 1;
    }
    i
}

/// High bit set in each byte of `v` that is zero (exact: no carry between bytes).
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    !(((v & LOW7).wrapping_add(LOW7)) | v) & HIGH_BITS
}

/// High bits of an eight-byte word that mark a control (below 0x20, or DEL) or the second
/// space of two; `carry` holds the last byte's space bit from the word before.
#[inline(always)]
fn control_or_double_space_bits(x: u64, carry: &mut u64) -> u64 {
    const SPACES: u64 = 0x2020_2020_2020_2020;
    const DELS: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // A byte below 0x20 borrows in `x - 0x20…` (a borrow only marks bytes after a real
    // hit); bytes ≥ 0x80 are excluded by `!x`.
    let control = x.wrapping_sub(SPACES) & !x & HIGH_BITS | zero_bytes(x ^ DELS);
    let sp = zero_bytes(x ^ SPACES);
    let bits = control | (sp & ((sp >> 8) | *carry));
    *carry = sp >> 56;
    bits
}

/// The eight-byte words of `bytes`, the last one padded with a letter (no control, no
/// space, no markup, ASCII).
fn padded_words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let chunks = bytes.chunks_exact(8);
    let rest = chunks.remainder();
    let mut last = [b'a'; 8];
    if let Some(head) = last.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    chunks
        .map(|c| {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            u64::from_le_bytes(word)
        })
        .chain((!rest.is_empty()).then_some(u64::from_le_bytes(last)))
}

/// Whether any byte is an ASCII control (below 0x20, or DEL) or two spaces follow each
/// other: one pass, eight bytes at a time.
fn has_control_or_double_space(bytes: &[u8]) -> bool {
    let mut carry = 0;
    padded_words(bytes).any(|x| control_or_double_space_bits(x, &mut carry) != 0)
}

/// The word rules of [`skip_cyrillic_text`] and [`skip_plain_words`] sixteen bytes at a
/// time, for the long runs of abstracts. SSE2 is part of the x86_64 baseline: the module is
/// compiled where the build enables it, with no runtime check. Each skip stops at the
/// latest where its eight-byte loop would stop, and that loop goes on from there; the
/// proptests hold both to the byte rule.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8,
        _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    /// The sixteen bytes at `i` and the sixteen at `i + 1`, when both fit in `bytes`.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn load_pair(bytes: &[u8], i: usize) -> Option<(__m128i, __m128i)> {
        let chunk = bytes.get(i..i.checked_add(17)?)?;
        // SAFETY: `chunk` is 17 bytes long, so both unaligned 16-byte loads read inside it.
        unsafe {
            Some((
                _mm_loadu_si128(chunk.as_ptr().cast()),
                _mm_loadu_si128(chunk.as_ptr().add(1).cast()),
            ))
        }
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn splat(b: u8) -> __m128i {
        _mm_set1_epi8(i8::from_ne_bytes([b]))
    }

    /// UTF-8 lead bytes (11xxxxxx).
    #[inline]
    #[target_feature(enable = "sse2")]
    fn leads(x: __m128i) -> __m128i {
        _mm_cmpeq_epi8(_mm_and_si128(x, splat(0xC0)), splat(0xC0))
    }

    /// Lead bytes other than `D0`/`D1` (the basic Cyrillic block).
    #[inline]
    #[target_feature(enable = "sse2")]
    fn other_leads(x: __m128i) -> __m128i {
        let d0_d1 = _mm_cmpeq_epi8(_mm_and_si128(x, splat(0xFE)), splat(0xD0));
        _mm_andnot_si128(d0_d1, leads(x))
    }

    /// [`super::skip_cyrillic_text`]'s words: stops before a lead other than `D0`/`D1`
    /// or a `D0` followed by `A0`/`A1` (`Р`, `С`).
    pub(super) fn skip_cyrillic_text(bytes: &[u8], i: usize) -> usize {
        // SAFETY: the module is compiled only where SSE2 is enabled for the whole build.
        unsafe { skip_cyrillic_text_sse2(bytes, i) }
    }

    #[target_feature(enable = "sse2")]
    fn skip_cyrillic_text_sse2(bytes: &[u8], mut i: usize) -> usize {
        while let Some((x, next)) = load_pair(bytes, i) {
            let r_or_s = _mm_and_si128(
                _mm_cmpeq_epi8(x, splat(0xD0)),
                _mm_cmpeq_epi8(_mm_and_si128(next, splat(0xFE)), splat(0xA0)),
            );
            if _mm_movemask_epi8(_mm_or_si128(other_leads(x), r_or_s)) != 0 {
                break;
            }
            // A lead in the last byte: stop before its character, on a boundary.
            i += if _mm_movemask_epi8(leads(x)) & 0x8000 == 0 {
                16
            } else {
                15
            };
        }
        i
    }

    /// Bytes [`super::skip_plain_words`] stops at: ASCII controls, DEL, leads other than
    /// `D0`/`D1`.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn not_plain(x: __m128i) -> __m128i {
        // Signed compares: 0x00–0x1F are the bytes ≥ 0 and < 0x20.
        let control = _mm_and_si128(
            _mm_cmplt_epi8(x, splat(0x20)),
            _mm_cmpgt_epi8(x, splat(0xFF)),
        );
        let del = _mm_cmpeq_epi8(x, splat(0x7F));
        _mm_or_si128(_mm_or_si128(control, del), other_leads(x))
    }

    /// [`super::skip_plain_words`]'s words: every byte plain, every space followed by a
    /// plain byte that is not a space.
    pub(super) fn skip_plain_words(bytes: &[u8], j: usize) -> usize {
        // SAFETY: the module is compiled only where SSE2 is enabled for the whole build.
        unsafe { skip_plain_words_sse2(bytes, j) }
    }

    #[target_feature(enable = "sse2")]
    fn skip_plain_words_sse2(bytes: &[u8], mut j: usize) -> usize {
        while let Some((x, next)) = load_pair(bytes, j) {
            let space = _mm_cmpeq_epi8(x, splat(b' '));
            let bad_next = _mm_or_si128(_mm_cmpeq_epi8(next, splat(b' ')), not_plain(next));
            let stop = _mm_or_si128(not_plain(x), _mm_and_si128(space, bad_next));
            if _mm_movemask_epi8(stop) != 0 {
                break;
            }
            j += 16;
        }
        j
    }
}

/// Values up to this length are scanned by [`ShortFacts`].
const SHORT_VALUE: usize = 48;

/// The ASCII-level facts [`Scan::of`] needs, from one pass of eight-byte words.
struct ShortFacts {
    lt: bool,
    amp: bool,
    control_or_double_space: bool,
    ascii: bool,
}

impl ShortFacts {
    fn of(bytes: &[u8]) -> Self {
        const LTS: u64 = 0x3C3C_3C3C_3C3C_3C3C;
        const AMPS: u64 = 0x2626_2626_2626_2626;
        let (mut lt, mut amp, mut bad, mut high) = (0, 0, 0, 0);
        let mut carry = 0;
        for x in padded_words(bytes) {
            lt |= zero_bytes(x ^ LTS);
            amp |= zero_bytes(x ^ AMPS);
            bad |= control_or_double_space_bits(x, &mut carry);
            high |= x & HIGH_BITS;
        }
        Self {
            lt: lt != 0,
            amp: amp != 0,
            control_or_double_space: bad != 0,
            ascii: high == 0,
        }
    }
}

/// Characters known to be NFC-stable without a table lookup: ASCII, Latin-1 and Latin
/// Extended letters, basic Cyrillic, common punctuation, `№`.
fn trivially_nfc(c: char) -> bool {
    // `№` (Russian citations) has only a compatibility decomposition: NFC keeps it.
    matches!(c, '\0'..='\u{2FF}' | '\u{400}'..='\u{482}' | '\u{48A}'..='\u{52F}' | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{205E}' | '\u{2116}')
}

fn nfc(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.chars().all(trivially_nfc) || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        s
    } else {
        Cow::Owned(s.nfc().collect::<String>())
    }
}

/// Values platforms send when a field is "empty".
pub(crate) fn is_placeholder(s: &str) -> bool {
    matches!(
        s,
        "-" | "--" | "---" | "–" | "—" | "." | "?" | "null" | "NULL" | "(none)"
    ) || s.eq_ignore_ascii_case("n/a")
        || s.eq_ignore_ascii_case("n.a.")
}

/// Bytes `collapse` copies without a decision: printable ASCII, and the lead and
/// continuation bytes of Latin-1/Latin Extended letters and basic Cyrillic (a lead byte
/// that stops the scan is decoded whole, so a continuation byte is only met after one of
/// these leads).
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x21;
    while b <= 0xD1 {
        t[b] = matches!(b, 0x21..=0x7E | 0x80..=0xBF | 0xC3..=0xCB | 0xD0 | 0xD1);
        b += 1;
    }
    t
};

/// Collapses whitespace; also tells whether a character outside the trivially-NFC set
/// was seen (so the caller knows if an NFC pass can matter).
fn collapse(s: &str, mode: Mode) -> (String, bool) {
    let mut c = Collapser::new(s.len(), mode);
    c.push(s);
    c.finish()
}

/// Whitespace collapsing fed piece by piece: the result is the same as collapsing the
/// pieces joined. Works on bytes: only sequences that can be whitespace, controls or
/// invisible characters are decoded.
struct Collapser {
    mode: Mode,
    out: String,
    odd: bool,
    pending_ws: bool,
    newlines: usize,
}

impl Collapser {
    fn new(capacity: usize, mode: Mode) -> Self {
        Self {
            mode,
            out: String::with_capacity(capacity),
            odd: false,
            pending_ws: false,
            newlines: 0,
        }
    }

    fn finish(self) -> (String, bool) {
        (self.out, self.odd)
    }

    fn push(&mut self, s: &str) {
        let bytes = s.as_bytes();
        // Start of the current run of bytes copied unchanged.
        let mut run_start: Option<usize> = None;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if run_start.is_some() {
                // Inside a run, printable ASCII, Latin letters and basic Cyrillic, and a
                // single space before them need no decision: fast-forward.
                let j = skip_plain(bytes, i);
                if j > i {
                    i = j;
                    continue;
                }
            }
            let (len, ws, drop) = if b < 0x80 {
                let ws = b.is_ascii_whitespace() || b == 0x0B;
                (1, ws, !ws && (b < 0x20 || b == 0x7F))
            } else {
                match s.get(i..).and_then(|t| t.chars().next()) {
                    Some(c) => {
                        self.odd |= !trivially_nfc(c);
                        let ws = c.is_whitespace();
                        let drop = !ws
                            && (c.is_control()
                                || matches!(c, '\u{200B}' | '\u{FEFF}' | '\u{00AD}' | '\u{2060}'));
                        (c.len_utf8(), ws, drop)
                    }
                    None => break,
                }
            };
            if ws || drop {
                if let Some(st) = run_start.take() {
                    self.out.push_str(&s[st..i]);
                }
                if ws {
                    self.pending_ws = true;
                    self.newlines += usize::from(b == b'\n');
                }
            } else if run_start.is_none() {
                if self.pending_ws && !self.out.is_empty() {
                    if self.mode == Mode::Block && self.newlines >= 2 {
                        self.out.push_str("\n\n");
                    } else {
                        self.out.push(' ');
                    }
                }
                self.pending_ws = false;
                self.newlines = 0;
                run_start = Some(i);
            }
            i += len;
        }
        if let Some(st) = run_start {
            self.out.push_str(&s[st..]);
        }
    }
}

/// From `j`, past the bytes [`Collapser::push`] copies without a decision: [`PLAIN`] bytes,
/// and single spaces followed by one. The rule [`skip_plain`] keeps, byte by byte.
#[cfg(test)]
fn skip_plain_bytes(bytes: &[u8], mut j: usize) -> usize {
    loop {
        while j < bytes.len() && PLAIN[usize::from(bytes[j])] {
            j += 1;
        }
        // After a space no continuation byte can follow: PLAIN means a plain start.
        if bytes.get(j) == Some(&b' ') && bytes.get(j + 1).is_some_and(|&b| PLAIN[usize::from(b)]) {
            j += 2;
            continue;
        }
        return j;
    }
}

/// From `j`, past the bytes [`Collapser::push`] copies without a decision: [`PLAIN`] bytes,
/// and single spaces followed by one; eight bytes at a time where [`skip_plain_words`] can.
fn skip_plain(bytes: &[u8], mut j: usize) -> usize {
    loop {
        j = skip_plain_words(bytes, j);
        while j < bytes.len() && PLAIN[usize::from(bytes[j])] {
            j += 1;
        }
        if bytes.get(j) == Some(&b' ') && bytes.get(j + 1).is_some_and(|&b| PLAIN[usize::from(b)]) {
            j += 2;
            continue;
        }
        return j;
    }
}

/// [`skip_plain`] eight bytes at a time over words of printable ASCII, single
/// spaces, UTF-8 continuation bytes and the basic Cyrillic leads `D0`/`D1`: it stops only
/// where the byte rule passes too (a last space is taken with the plain byte after it), so
/// the byte rule goes on from there.
fn skip_plain_words(bytes: &[u8], mut j: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        j = sse2::skip_plain_words(bytes, j);
    }
    const SPACES: u64 = 0x2020_2020_2020_2020;
    const DELS: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const LEADS: u64 = 0xD0D0_D0D0_D0D0_D0D0;
    const NOT_BIT0: u64 = 0xFEFE_FEFE_FEFE_FEFE;
    // High bit set in each byte equal to zero.
    let zero = |v: u64| !(((v & LOW7).wrapping_add(LOW7)) | v) & HIGH_BITS;
    while let Some(chunk) = bytes.get(j..j + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // ASCII controls (a byte below 0x20 borrows; bytes ≥ 0x80 are excluded by `!x`), DEL.
        let control = x.wrapping_sub(SPACES) & !x & HIGH_BITS | zero(x ^ DELS);
        // Bytes 11xxxxxx other than D0/D1: leads this does not take.
        let lead = x & (x << 1) & HIGH_BITS & !zero((x & NOT_BIT0) ^ LEADS);
        let sp = zero(x ^ SPACES);
        if control | lead != 0 || sp & (sp >> 8) != 0 {
            return j;
        }
        if sp >> 63 == 0 {
            j += 8;
        } else if bytes.get(j + 8).is_some_and(|&b| PLAIN[usize::from(b)]) {
            // The byte rule steps over a space and the plain byte after it together.
            j += 9;
        } else {
            return j;
        }
    }
    j
}

/// Tags dropped without a trace (inline) or turned into a paragraph break (block).
fn tag_kind(name: &str) -> Option<bool> {
    let local = name.rsplit(':').next().unwrap_or(name);
    let prefixed = local.len() != name.len();
    let block = matches!(
        local,
        "p" | "br"
            | "div"
            | "li"
            | "ul"
            | "ol"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "table"
            | "tr"
            | "hr"
            | "pre"
            | "section"
            | "article"
            | "dl"
            | "dt"
            | "dd"
            | "sec"
            | "title"
            | "header"
            | "footer"
    );
    if block {
        return Some(true);
    }
    let inline = matches!(
        local,
        "a" | "abbr"
            | "acronym"
            | "b"
            | "big"
            | "cite"
            | "code"
            | "del"
            | "dfn"
            | "em"
            | "font"
            | "i"
            | "img"
            | "ins"
            | "kbd"
            | "mark"
            | "math"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strike"
            | "strong"
            | "sub"
            | "sup"
            | "tt"
            | "u"
            | "var"
            | "wbr"
            | "td"
            | "th"
            | "tbody"
            | "thead"
            | "tfoot"
            | "caption"
            | "col"
            | "colgroup"
            | "label"
            | "figure"
            | "figcaption"
            | "italic"
            | "bold"
            | "sc"
            | "underline"
            | "inline-formula"
            | "mi"
            | "mo"
            | "mn"
            | "msub"
            | "msup"
            | "mrow"
            | "mfrac"
            | "o:p"
    );
    // Namespaced markup (`jats:p`, `mml:mi`) is markup whatever its local name.
    if inline || prefixed {
        Some(false)
    } else {
        None
    }
}

/// What [`markup_pieces`] finds between tags.
#[derive(Clone, Copy)]
enum Piece<'a> {
    /// Text as written (entities not decoded), or a `<` that opens no known tag.
    Text(&'a str),
    /// A block tag: a paragraph break.
    Break,
    /// A tag, comment or script/style element removed without a trace.
    Gap,
}

/// Splits HTML into text and tags, in order; stops early when `f` breaks.
fn markup_pieces<'a>(
    s: &'a str,
    mut f: impl FnMut(Piece<'a>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut rest = s;
    while let Some(pos) = memchr::memchr(b'<', rest.as_bytes()) {
        if pos > 0 {
            f(Piece::Text(&rest[..pos]))?;
        }
        let after = &rest[pos..];
        if let Some(stripped) = after.strip_prefix("<!--") {
            rest = match stripped.find("-->") {
                Some(end) => &stripped[end + 3..],
                None => "",
            };
            f(Piece::Gap)?;
            continue;
        }
        match parse_tag(after) {
            Some((len, name, closing)) => {
                // Tag names are short ASCII: lower-cased on the stack, not in a new String.
                let mut buf = [0u8; 32];
                let lname: Cow<'_, str> = match buf.get_mut(..name.len()) {
                    Some(b) => {
                        b.copy_from_slice(name.as_bytes());
                        b.make_ascii_lowercase();
                        match std::str::from_utf8(b) {
                            Ok(l) => Cow::Borrowed(l),
                            Err(_) => Cow::Owned(name.to_ascii_lowercase()),
                        }
                    }
                    None => Cow::Owned(name.to_ascii_lowercase()),
                };
                if !closing && (lname == "script" || lname == "style") {
                    let close = format!("</{lname}");
                    let lower = after.to_ascii_lowercase();
                    rest = match lower.find(&close) {
                        Some(end) => match after[end..].find('>') {
                            Some(gt) => &after[end + gt + 1..],
                            None => "",
                        },
                        None => "",
                    };
                    f(Piece::Gap)?;
                    continue;
                }
                match tag_kind(&lname) {
                    Some(true) => f(Piece::Break)?,
                    Some(false) => f(Piece::Gap)?,
                    None => {
                        f(Piece::Text(&after[..1]))?;
                        rest = &after[1..];
                        continue;
                    }
                }
                rest = &after[len..];
            }
            None => {
                f(Piece::Text(&after[..1]))?;
                rest = &after[1..];
            }
        }
    }
    if !rest.is_empty() {
        f(Piece::Text(rest))?;
    }
    ControlFlow::Continue(())
}

/// Removes HTML tags; `<script>`/`<style>` lose their content; a `<` that opens no known
/// tag (`p < 0.05`) is kept.
pub(crate) fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let _ = markup_pieces(s, |p| {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Break => out.push_str("\n\n"),
            Piece::Gap => {}
        }
        ControlFlow::Continue(())
    });
    out
}

/// Whether `t` ends inside what could be the start of a reference (`&am`, `&#12`), which
/// text after a removed tag could complete.
fn ends_in_open_ref(t: &str) -> bool {
    t.rfind('&').is_some_and(|at| {
        t[at + 1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'#')
    })
}

/// Tags stripped, entities decoded and whitespace collapsed in one pass into one buffer:
/// what `collapse(unescape(strip_tags(s)))` gives, without the two intermediate copies.
/// `None` where the passes could interact (a `<` in the decoded text, which the multi-pass
/// rule strips again; a reference split by a tag): the caller then runs them one by one.
fn markup_one_pass(s: &str, mode: Mode, decode: bool) -> Option<(String, bool)> {
    let mut c = Collapser::new(s.len(), mode);
    // The last text ended in a possible reference and only removed tags followed.
    let mut open_ref = false;
    let flow = markup_pieces(s, |p| {
        match p {
            Piece::Text(t) if decode => {
                if open_ref {
                    return ControlFlow::Break(());
                }
                // The usual references straight into the buffer: no decoded copy.
                if memchr::memchr(b'<', t.as_bytes()).is_none() && push_common_refs(t, &mut c) {
                    open_ref = ends_in_open_ref(t);
                    return ControlFlow::Continue(());
                }
                let decoded = if t.contains('&') {
                    htmlize::unescape(t)
                } else {
                    Cow::Borrowed(t)
                };
                if decoded.contains('<') {
                    return ControlFlow::Break(());
                }
                open_ref = ends_in_open_ref(t);
                c.push(&decoded);
            }
            Piece::Text(t) => c.push(t),
            Piece::Break => {
                // A reference never reaches past the break's newline, as in the joined text.
                open_ref = false;
                c.push("\n\n");
            }
            Piece::Gap => {}
        }
        ControlFlow::Continue(())
    });
    flow.is_continue().then(|| c.finish())
}

/// Named references common in abstracts and what `htmlize::unescape` makes of them (a test
/// checks each against it). No `&lt;`: a decoded `<` needs the multi-pass rule.
const COMMON_REFS: [(&str, &str); 18] = [
    ("rsquo;", "\u{2019}"),
    ("lsquo;", "\u{2018}"),
    ("ldquo;", "\u{201C}"),
    ("rdquo;", "\u{201D}"),
    ("mdash;", "\u{2014}"),
    ("ndash;", "\u{2013}"),
    ("nbsp;", "\u{A0}"),
    ("laquo;", "\u{AB}"),
    ("raquo;", "\u{BB}"),
    ("hellip;", "\u{2026}"),
    ("amp;", "&"),
    ("quot;", "\""),
    ("gt;", ">"),
    ("shy;", "\u{AD}"),
    ("copy;", "\u{A9}"),
    ("deg;", "\u{B0}"),
    ("times;", "\u{D7}"),
    ("minus;", "\u{2212}"),
];

/// The [`COMMON_REFS`] entry `s` starts with, if any.
fn common_ref(s: &str) -> Option<(usize, &'static str)> {
    COMMON_REFS
        .iter()
        .find(|(name, _)| s.starts_with(name))
        .map(|(name, text)| (name.len(), *text))
}

/// Feeds `t` with its references decoded to the collapser, as `htmlize::unescape` would
/// decode them, when every `&` in it starts one of [`COMMON_REFS`]; else feeds nothing
/// and returns `false` (the caller decodes with htmlize).
fn push_common_refs(t: &str, c: &mut Collapser) -> bool {
    let b = t.as_bytes();
    if memchr::memchr_iter(b'&', b).any(|amp| common_ref(&t[amp + 1..]).is_none()) {
        return false;
    }
    let mut rest = t;
    while let Some(amp) = memchr::memchr(b'&', rest.as_bytes()) {
        c.push(&rest[..amp]);
        let after = &rest[amp + 1..];
        // Checked above: every `&` starts a known reference.
        let (len, text) = common_ref(after).unwrap_or((0, "&"));
        c.push(text);
        rest = &after[len..];
    }
    c.push(rest);
    true
}

/// `<name ...>` or `</name>` at the start of `s`: (byte length, name, closing).
fn parse_tag(s: &str) -> Option<(usize, &str, bool)> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(1) == Some(&b'/');
    if closing {
        i += 1;
    }
    let start = i;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b':' || bytes[i] == b'-')
    {
        i += 1;
    }
    if i == start || !bytes[start].is_ascii_alphabetic() {
        return None;
    }
    let name = &s[start..i];
    let rest = &s[i..];
    let first = rest.chars().next()?;
    if !(first == '>' || first == '/' || first.is_whitespace()) {
        return None;
    }
    let end = rest.find('>')?;
    if rest[..end].contains('<') {
        return None;
    }
    Some((i + end + 1, name, closing))
}

/// cp1252 bytes 0x80–0x9F that are not the Latin-1 identity.
fn cp1252_byte(c: char) -> Option<u8> {
    let u = c as u32;
    if u < 0x100 {
        return Some(u as u8);
    }
    Some(match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    })
}

/// UTF-8 lead byte read as cp1252/Latin-1 followed by a continuation byte read the same way.
fn has_latin_mojibake(s: &str) -> bool {
    let mut prev_lead = false;
    for c in s.chars() {
        let b = cp1252_byte(c);
        if prev_lead && matches!(b, Some(0x80..=0xBF)) {
            return true;
        }
        prev_lead = matches!(b, Some(0xC2..=0xF4));
    }
    false
}

/// `Р`/`С` (cp1251 0xD0/0xD1, lead bytes of UTF-8 Cyrillic) followed by a cp1251 char in
/// 0x80–0xBF: the `РџСЂРёРІРµС‚` pattern.
fn has_cyrillic_mojibake(s: &str) -> bool {
    let mut prev_lead = false;
    for c in s.chars() {
        // Basic Cyrillic letters and ASCII are never cp1251 0x80–0xBF: skip the lookup.
        if prev_lead && !c.is_ascii() && !('\u{410}'..='\u{44F}').contains(&c) {
            let mut buf = [0u8; 4];
            let (bytes, _, bad) = encoding_rs::WINDOWS_1251.encode(c.encode_utf8(&mut buf));
            if !bad && bytes.len() == 1 && (0x80..=0xBF).contains(&bytes[0]) {
                return true;
            }
        }
        prev_lead = matches!(c, 'Р' | 'С');
    }
    false
}

fn is_clean(s: &str) -> bool {
    !s.chars()
        .any(|c| c == '\u{FFFD}' || (c.is_control() && !matches!(c, '\n' | '\t' | '\r')))
}

/// Repairs UTF-8 text that was decoded as cp1252/Latin-1 or cp1251 upstream; `None` when the
/// text shows no such pattern or no round trip gives clean UTF-8. Works on runs of
/// characters the codepage can hold, so damaged Latin next to real Cyrillic is repaired too.
pub(crate) fn repair_mojibake(s: &str) -> Option<String> {
    if s.is_ascii() {
        return None;
    }
    let mut current = Cow::Borrowed(s);
    let mut changed = false;
    // A repair can uncover a neighbour of the other kind; the bound keeps it finite.
    for _ in 0..3 {
        let mut round = false;
        if has_latin_mojibake(&current)
            && let Some(fixed) = repair_runs(&current, cp1252_byte, repair_latin_run)
        {
            current = Cow::Owned(fixed);
            round = true;
        }
        if has_cyrillic_mojibake(&current)
            && let Some(fixed) = repair_runs(&current, cp1251_byte, repair_cyrillic_run)
        {
            current = Cow::Owned(fixed);
            round = true;
        }
        if !round {
            break;
        }
        changed = true;
    }
    changed.then(|| current.into_owned())
}

fn cp1251_byte(c: char) -> Option<u8> {
    if c.is_ascii() {
        return Some(c as u8);
    }
    let mut buf = [0u8; 4];
    let (bytes, _, bad) = encoding_rs::WINDOWS_1251.encode(c.encode_utf8(&mut buf));
    (!bad && bytes.len() == 1).then(|| bytes[0])
}

/// Applies `fix` to every maximal run of non-ASCII characters the codepage holds (a UTF-8
/// sequence never holds ASCII bytes). Whitespace breaks a run unless it continues a lead
/// byte (`Â` + NBSP is the mojibake of a no-break space); `None` if nothing changed.
fn repair_runs(
    s: &str,
    to_byte: impl Fn(char) -> Option<u8>,
    fix: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut start = 0;
    let mut in_run = false;
    let mut prev_lead = false;
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), '\0'))) {
        let byte = if i < s.len() && !c.is_ascii() {
            to_byte(c)
        } else {
            None
        };
        let enc = byte.is_some() && (!c.is_whitespace() || (in_run && prev_lead));
        prev_lead = matches!(byte, Some(0xC2..=0xF4));
        if enc && !in_run {
            out.push_str(&s[start..i]);
            start = i;
            in_run = true;
        } else if !enc && in_run {
            let run = &s[start..i];
            match fix(run) {
                Some(f) => {
                    out.push_str(&f);
                    changed = true;
                }
                None => out.push_str(run),
            }
            start = i;
            in_run = false;
        }
    }
    out.push_str(&s[start..]);
    changed.then_some(out)
}

fn repair_latin_run(run: &str) -> Option<String> {
    if !has_latin_mojibake(run) {
        return None;
    }
    let bytes: Vec<u8> = run.chars().map(cp1252_byte).collect::<Option<_>>()?;
    let fixed = String::from_utf8(bytes).ok()?;
    (is_clean(&fixed) && !has_latin_mojibake(&fixed)).then_some(fixed)
}

fn repair_cyrillic_run(run: &str) -> Option<String> {
    if !has_cyrillic_mojibake(run) {
        return None;
    }
    let (bytes, _, bad) = encoding_rs::WINDOWS_1251.encode(run);
    if bad {
        return None;
    }
    let fixed = std::str::from_utf8(&bytes).ok()?;
    (is_clean(fixed) && !has_cyrillic_mojibake(fixed)).then(|| fixed.to_owned())
}

/// Index of an English function word (`The`, `of`, ...), for counting distinct ones.
fn english_word(w: &str) -> Option<u8> {
    if w.len() < 2 || w.len() > 7 {
        return None;
    }
    let mut buf = [0u8; 7];
    for (d, s) in buf.iter_mut().zip(w.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    Some(match &buf[..w.len()] {
        b"the" => 0,
        b"of" => 1,
        b"and" => 2,
        b"in" => 3,
        b"to" => 4,
        b"is" => 5,
        b"for" => 6,
        b"with" => 7,
        b"on" => 8,
        b"are" => 9,
        b"this" => 10,
        b"that" => 11,
        b"by" => 12,
        b"from" => 13,
        b"as" => 14,
        b"an" => 15,
        b"its" => 16,
        b"be" => 17,
        b"was" => 18,
        b"were" => 19,
        b"which" => 20,
        b"between" => 21,
        b"towards" | b"toward" => 22,
        b"into" => 23,
        b"their" => 24,
        b"these" => 25,
        b"how" => 26,
        b"what" => 27,
        b"why" => 28,
        b"under" => 29,
        b"through" => 30,
        _ => return None,
    })
}

/// Letters looked at: enough to be sure, cheap on long abstracts.
const GUESS_SAMPLE: usize = 120;

/// Letter counts over the first [`GUESS_SAMPLE`] letters of a value.
#[derive(Default)]
struct Tally {
    cyr: usize,
    ascii_latin: usize,
    other: usize,
    /// A Cyrillic letter outside the Russian alphabet was seen.
    foreign_cyr: bool,
    /// Byte offset where the sample ends.
    scanned_to: usize,
}

impl Tally {
    fn letters(&self) -> usize {
        self.cyr + self.ascii_latin + self.other
    }
}

/// Counts the letters of `s` by script; `None` as soon as `stop` holds (callers pass a
/// condition that, once true, stays true, so stopping early changes no answer).
fn tally(s: &str, stop: impl Fn(&Tally) -> bool) -> Option<Tally> {
    let mut t = Tally {
        scanned_to: s.len(),
        ..Tally::default()
    };
    let bytes = s.as_bytes();
    let mut i = 0;
    // Bytes, not chars: ASCII and Cyrillic (U+0400–U+04FF, lead bytes D0–D3) are read
    // without decoding; anything else is decoded.
    while i < bytes.len() {
        let b = bytes[i];
        let len = if b < 0x80 {
            t.ascii_latin += usize::from(b.is_ascii_alphabetic());
            1
        } else if let (0xD0..=0xD3, Some(&b2)) = (b, bytes.get(i + 1)) {
            t.cyr += 1;
            // А–я (U+0410–U+044F), Ё (U+0401), ё (U+0451) are the Russian alphabet.
            let russian = matches!(
                (b, b2),
                (0xD0, 0x90..=0xBF | 0x81) | (0xD1, 0x80..=0x8F | 0x91)
            );
            t.foreign_cyr |= !russian;
            2
        } else {
            let Some(c) = s.get(i..).and_then(|r| r.chars().next()) else {
                break;
            };
            t.other += usize::from(c.is_alphabetic());
            c.len_utf8()
        };
        if stop(&t) {
            return None;
        }
        if t.letters() >= GUESS_SAMPLE {
            t.scanned_to = i;
            break;
        }
        i += len;
    }
    Some(t)
}

/// The language a value's script makes certain: `ru` for Russian-alphabet Cyrillic (no
/// letters of other Cyrillic alphabets), `en` for ASCII Latin text with at least two
/// distinct English function words.
pub(crate) fn guess_lang(s: &str) -> Option<&'static str> {
    tally(s, |_| false).and_then(|t| decide_lang(s, &t))
}

fn decide_lang(s: &str, t: &Tally) -> Option<&'static str> {
    let letters = t.letters();
    if letters < 3 {
        return None;
    }
    if t.cyr * 10 >= letters * 8 {
        return (!t.foreign_cyr).then_some("ru");
    }
    if t.cyr == 0 && t.other * 20 <= letters {
        let mut seen = 0u64;
        for w in s[..t.scanned_to].split(|c: char| !c.is_ascii_alphabetic()) {
            if let Some(k) = english_word(w) {
                seen |= 1 << k;
                if seen.count_ones() >= 2 {
                    return Some("en");
                }
            }
        }
    }
    None
}

/// `s` lower-cased: an ASCII value that fits `buf` on the stack (the common case of tags and
/// vocabulary terms, an allocation each otherwise), anything else in a new string.
pub(crate) fn lowercase_in<'a>(s: &str, buf: &'a mut [u8]) -> Cow<'a, str> {
    match buf.get_mut(..s.len()) {
        Some(b) if s.is_ascii() => {
            b.copy_from_slice(s.as_bytes());
            b.make_ascii_lowercase();
            match std::str::from_utf8(b) {
                Ok(l) => Cow::Borrowed(l),
                Err(_) => Cow::Owned(s.to_lowercase()),
            }
        }
        _ => Cow::Owned(s.to_lowercase()),
    }
}

/// `s` lower-cased into `buf` for matching: byte by byte over ASCII and UTF-8 pair by
/// pair over the basic Cyrillic block (U+0400–U+045F, where lower case keeps the length
/// and a capital's pair maps with one add: А–П +0x20, Р–Я to `D1` −0x20, Ѐ–Џ to `D1`
/// +0x10). `None` when `s` is longer than `buf` or has any other character. (Keywords
/// keep [`fold_case_into`]: validating the folded bytes as a `str` cost what this saved.)
pub(crate) fn fold_basic<'b>(s: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let b = s.as_bytes();
    let folded = buf.get_mut(..b.len())?;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c < 0x80 {
            *folded.get_mut(i)? = c.to_ascii_lowercase();
            i += 1;
            continue;
        }
        let c2 = *b.get(i + 1)?;
        let pair = match (c, c2) {
            (0xD0, 0x90..=0x9F) => [0xD0, c2 + 0x20],
            (0xD0, 0xA0..=0xAF) => [0xD1, c2 - 0x20],
            (0xD0, 0x80..=0x8F) => [0xD1, c2 + 0x10],
            (0xD0, 0xB0..=0xBF) | (0xD1, 0x80..=0x9F) => [c, c2],
            _ => return None,
        };
        folded.get_mut(i..i + 2)?.copy_from_slice(&pair);
        i += 2;
    }
    Some(folded)
}

/// Lower case for matching, appended to `out`; ASCII and Russian letters without the
/// Unicode tables.
pub(crate) fn fold_case_into(s: &str, out: &mut String) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        if let Some(added) = out.get_mut(start..) {
            added.make_ascii_lowercase();
        }
        return;
    }
    out.reserve(s.len());
    for c in s.chars() {
        match c {
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            'А'..='Я' => out.push(char::from_u32(c as u32 + 0x20).unwrap_or(c)),
            'Ё' => out.push('ё'),
            c if c.is_ascii() || ('а'..='ё').contains(&c) => out.push(c),
            c => out.extend(c.to_lowercase()),
        }
    }
}

/// Languages written in Cyrillic, for spotting a declared language the text contradicts.
pub(crate) fn is_cyrillic_lang(lang: &str) -> bool {
    matches!(
        lang,
        "ru" | "uk" | "be" | "bg" | "sr" | "mk" | "kk" | "ky" | "tg" | "mn" | "tt" | "ba" | "cv"
    )
}

/// True when the script of `text` plainly contradicts the declared language.
pub(crate) fn lang_conflicts(declared: &str, text: &str) -> bool {
    // Russian needs Cyrillic letters: ASCII text (most English titles and keywords)
    // contradicts no other language, without a tally.
    if !is_cyrillic_lang(declared) && text.is_ascii() {
        return false;
    }
    // Only one guess can conflict, so the scan stops once that guess is ruled out: `en`
    // needs no Cyrillic at all; `ru` needs the Russian alphabet and at least 80% Cyrillic
    // of at most GUESS_SAMPLE letters, so more than a fifth of the sample otherwise rules it out.
    if is_cyrillic_lang(declared) {
        tally(text, |t| t.cyr > 0).is_some_and(|t| decide_lang(text, &t) == Some("en"))
    } else {
        tally(text, |t| {
            t.foreign_cyr || (t.ascii_latin + t.other) * 5 > GUESS_SAMPLE
        })
        .is_some_and(|t| decide_lang(text, &t) == Some("ru"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_in_borrows_the_stack_for_short_ascii_only() {
        let mut buf = [0u8; 8];
        assert!(matches!(
            lowercase_in("En-US", &mut buf),
            Cow::Borrowed("en-us")
        ));
        let mut buf = [0u8; 4];
        assert!(matches!(lowercase_in("En-US", &mut buf), Cow::Owned(ref o) if o == "en-us"));
        let mut buf = [0u8; 64];
        assert!(matches!(lowercase_in("Русский", &mut buf), Cow::Owned(ref o) if o == "русский"));
    }

    #[test]
    fn is_alphabetic_agrees_with_std_on_every_char() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "{c:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn trim_agrees_with_std(s in "[a ,Лё\u{a0}\u{2003}\t€]{0,12}") {
            proptest::prop_assert_eq!(trim(&s), s.trim(), "{:?}", s);
        }
    }

    #[test]
    fn plain_cyrillic_range_test_agrees_with_the_byte_test() {
        for c in (0..=0x7FF).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            let b = c.encode_utf8(&mut buf).as_bytes();
            let bytewise = b.len() == 2
                && ((b[0] == 0xD0 && matches!(b[1], 0x90..=0x9F | 0xA2..=0xBF))
                    || (b[0] == 0xD1 && matches!(b[1], 0x80..=0x8F)));
            assert_eq!(plain_cyrillic_at(b, 0), bytewise, "{c:?}");
            let s = format!("x{c}");
            assert_eq!(plain_cyrillic_at(s.as_bytes(), 1), bytewise, "{c:?}");
            assert!(!plain_cyrillic_at(&b[..1], 0));
        }
    }

    fn naive_control_or_double_space(s: &str) -> bool {
        s.contains("  ") || s.bytes().any(|b| b < 0x20 || b == 0x7F)
    }

    proptest::proptest! {
        #[test]
        fn short_facts_agree_with_the_searches(s in "[a <&\t\u{7f}\u{1}Лé’\u{a0}]{0,60}") {
            let f = ShortFacts::of(s.as_bytes());
            proptest::prop_assert_eq!(
                (f.lt, f.amp, f.control_or_double_space, f.ascii),
                (s.contains('<'), s.contains('&'), naive_control_or_double_space(&s), s.is_ascii()),
                "{:?}", s
            );
        }
    }

    #[test]
    fn word_at_a_time_scan_agrees_with_a_byte_scan() {
        // Every position relative to the 8-byte words, including pairs straddling two.
        let fillers = ["abcdefghijklmnopq", "Лукин Артём В. д", "a b c d e f g h i"];
        for filler in fillers {
            for at in 0..filler.len() {
                for needle in ["  ", "\t", "\n", "\u{7f}", "\u{1f}", " ", "x"] {
                    let Some((head, tail)) = filler.split_at_checked(at) else {
                        continue;
                    };
                    let s = format!("{head}{needle}{tail}");
                    assert_eq!(
                        has_control_or_double_space(s.as_bytes()),
                        naive_control_or_double_space(&s),
                        "{s:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn early_exit_conflict_check_agrees_with_the_full_guess() {
        let full = |declared: &str, text: &str| match guess_lang(text) {
            Some("ru") => !is_cyrillic_lang(declared),
            Some("en") => is_cyrillic_lang(declared),
            _ => false,
        };
        let en = "The paper examines the policy of the region and its relations with China. ";
        let ru = "В статье рассматривается внешняя политика России в отношении региона. ";
        let mut texts = vec![
            String::new(),
            "ab".to_owned(),
            "Україна і Росія".to_owned(),
            "Ελληνικά κείμενα".to_owned(),
        ];
        // Every mix of Latin and Cyrillic, so the 80% boundary and the sample limit are crossed.
        for n in 0..8 {
            for m in 0..8 {
                texts.push(format!("{}{}", en.repeat(n), ru.repeat(m)));
                texts.push(format!("{}{}", ru.repeat(m), en.repeat(n)));
                let cut: String = en.chars().take(n * 4).collect();
                texts.push(format!("{}{cut}", ru.repeat(m)));
            }
        }
        for t in &texts {
            for d in ["en", "ru", "uk", "de"] {
                assert_eq!(lang_conflicts(d, t), full(d, t), "{d} {t:?}");
            }
        }
    }

    #[test]
    fn already_clean_values_are_borrowed_not_copied() {
        let raw = "Russian Priorities and Approaches to the Korean Peninsula";
        let c = clean(raw, Mode::Line).map(|c| c.text);
        assert!(matches!(c, Some(Cow::Borrowed(t)) if t == raw));
        let c = clean("  Лукин,\u{a0}Артём ", Mode::Line).map(|c| c.text);
        assert!(matches!(c, Some(Cow::Owned(t)) if t == "Лукин, Артём"));
    }

    #[test]
    fn one_pass_markup_agrees_with_the_passes() {
        // Values as the parser hands them over (XML references already decoded once).
        let cases = [
            "<p>The region&rsquo;s proximity &mdash; a test.</p><p>Second   paragraph</p>",
            "<p>p &lt; 0.05 and q &gt; 1</p>",
            "p &lt; 0.05",
            "x < y & z > w",
            "&amp;lt;p&amp;gt;triple&amp;lt;/p&amp;gt;",
            "&lt;p&gt;double escaped&lt;/p&gt; &amp;amp;",
            "<div><p>nested <b>bold</b> and <i>it</i></p></div>",
            "<![CDATA[x]]> &amp; <p>y</p>",
            "a  \n\n  b <br/> c\t\td <p>\n\ne</p>",
            "Лукин&nbsp;А.В. <i>Корейский</i>   полуостров&nbsp;&nbsp;",
            "РџСЂРёРІРµС‚ <b>x</b> &amp;",
            "Ã©tude <b>x</b>",
            "&am<b>p;</b> split by a tag",
            "&amp<br>x &#x41<i>42</i>; &#65<p>66</p>",
            "<script>alert(1)</script>text &copy 2020 &copy;",
            "<!-- c -->&nbsp;&nbsp;x<!-- unterminated",
            "x &unknown; y <p>",
            "e&#x301; <p>x</p>",
            "e\u{301} <p>x</p>",
            " <p> </p> ",
            "<p>-</p>",
            "&#8203;<p>\u{a0}</p>&shy;",
            "<P CLASS=x>Upper</P><Br>case",
            "<jats:p>JATS</jats:p><mml:mi>x</mml:mi>",
        ];
        let mut one_pass_taken = 0;
        for raw in cases {
            for mode in [Mode::Line, Mode::Block] {
                let scan = Scan::of(raw);
                let want = clean_in_passes(raw, mode, &scan).map(|c| (c.text, c.repaired));
                let got = clean(raw, mode).map(|c| (c.text, c.repaired));
                assert_eq!(got, want, "{raw:?}");
                if !scan.nfc_check
                    && !scan.mojibake
                    && markup_one_pass(raw, mode, scan.amp).is_some()
                {
                    one_pass_taken += 1;
                }
            }
        }
        // Most cases must go through the one pass, or the comparison proves nothing.
        assert!(one_pass_taken >= 24, "{one_pass_taken}");
    }

    /// `Scan::of` before its word-at-a-time skips: the reference it must agree with.
    fn scan_before(s: &str) -> Scan {
        let bytes = s.as_bytes();
        // ASCII-level facts by whole-slice searches (vectorized), then a pass over the
        // non-ASCII sequences only.
        let lt = memchr::memchr(b'<', bytes).is_some();
        let amp = memchr::memchr(b'&', bytes).is_some();
        let mut scan = Scan {
            nfc_check: false,
            mojibake: false,
            lt,
            amp,
            // Markup or entities mean a rebuild anyway: the spacing test only matters
            // for deciding whether the value is already clean.
            spacing: !(lt || amp)
                && (bytes.first().is_none_or(|b| b.is_ascii_whitespace())
                    || bytes.last().is_some_and(|b| b.is_ascii_whitespace())
                    || has_control_or_double_space(bytes)),
        };
        if s.is_ascii() {
            return scan;
        }
        let mut i = 0;
        // End of the previous non-ASCII character if it was a mojibake lead (`Ã`, `Р`).
        let mut suspect_end = usize::MAX;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                i = skip_ascii(bytes, i + 1);
                continue;
            }
            // Basic Cyrillic letters other than `Р`/`С` (the mojibake leads) change nothing.
            if let Some(&b2) = bytes.get(i + 1)
                && ((b == 0xD0 && matches!(b2, 0x90..=0x9F | 0xA2..=0xBF))
                    || (b == 0xD1 && matches!(b2, 0x80..=0x8F)))
            {
                i += 2;
                continue;
            }
            let follows_suspect = suspect_end == i;
            // Two-byte sequences (Latin-1, Latin Extended, Cyrillic) decoded inline: the
            // bulk of Russian text.
            if (0xC2..=0xDF).contains(&b)
                && let Some(&b2) = bytes.get(i + 1)
            {
                let cp = (u32::from(b & 0x1F) << 6) | u32::from(b2 & 0x3F);
                i += 2;
                if follows_suspect && !(0x410..=0x44F).contains(&cp) {
                    scan.mojibake = true;
                }
                if matches!(cp, 0xC0..=0xFF | 0x420 | 0x421) {
                    suspect_end = i;
                }
                if !(cp < 0x300 || (0x400..=0x482).contains(&cp) || (0x48A..=0x52F).contains(&cp)) {
                    scan.nfc_check = true;
                }
                if matches!(cp, 0x80..=0xA0 | 0xAD) {
                    scan.spacing = true;
                }
                continue;
            }
            let Some(c) = s.get(i..).and_then(|t| t.chars().next()) else {
                break;
            };
            i += c.len_utf8();
            if follows_suspect {
                scan.mojibake = true;
            }
            if !trivially_nfc(c) {
                scan.nfc_check = true;
            }
            if c.is_whitespace()
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202F}' | '\u{2060}' | '\u{FEFF}')
            {
                scan.spacing = true;
            }
        }
        scan
    }

    /// [`Scan::of`] gives what the byte-wise scan gave for `s`.
    fn same_scan_as_before(s: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let (a, b) = (Scan::of(s), scan_before(s));
        proptest::prop_assert_eq!(
            (a.nfc_check, a.mojibake, a.lt, a.amp, a.spacing),
            (b.nfc_check, b.mojibake, b.lt, b.amp, b.spacing),
            "{:?}",
            s
        );
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn scan_with_word_skips_equals_the_scan_before(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", " ", "  ", "\t", "Лукин", "Р", "С", "Рџ", "СЂ", "Ã©", "ё", "Ѐ", "é",
                    "’", "\u{a0}", "\u{200b}", "e\u{301}", "№", "ӿ", "Ж", "x y",
                ]),
                0..30,
            ),
        ) {
            same_scan_as_before(&pieces.concat())?;
        }

        #[test]
        fn scan_over_long_cyrillic_text_equals_the_scan_before(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "Россия", "Лукин", "в", " ", ", ", "Р", "С", "РЎ", "Ѐ", "ѐ", "ё", "Ã", "©",
                    "—", "a", "\u{a0}", "ӿ", "e\u{301}", "Сергей", "СЂ",
                ]),
                // Long enough for many sixteen-byte steps and their edges.
                0..160,
            ),
        ) {
            same_scan_as_before(&pieces.concat())?;
        }

        #[test]
        fn folding_by_pairs_equals_lower_case(
            s in "[a-zA-Z0-9 ,.АаЯяПпРрЁёЀѐЂђЏџѠѡӿéŘ-]{0,40}",
        ) {
            let mut buf = [0u8; 128];
            if let Some(folded) = fold_basic(&s, &mut buf) {
                let lower = s.to_lowercase();
                proptest::prop_assert_eq!(folded, lower.as_bytes());
            }
        }

        #[test]
        fn plain_words_skip_no_further_than_plain_bytes(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "Word", " ", "  ", "\t", "\n", "\u{7f}", "\u{1}", "Лукин", "ё", "Ѐ",
                    "é", "Ж", "’", "\u{a0}", "—", "x y", ".,;", "€", "ӿ", "Ř",
                ]),
                0..160,
            ),
            from in 0usize..64,
        ) {
            let s: String = pieces.concat();
            let b = s.as_bytes();
            let from = from.min(b.len());
            let words = skip_plain_words(b, from);
            let bytes = skip_plain_bytes(b, from);
            proptest::prop_assert!(words <= bytes, "{:?} {}", s, from);
            proptest::prop_assert_eq!(skip_plain_bytes(b, words), bytes, "{:?} {}", s, from);
            proptest::prop_assert_eq!(skip_plain(b, from), bytes, "{:?} {}", s, from);
        }
    }

    #[test]
    fn common_refs_decode_as_htmlize_does() {
        for (name, text) in COMMON_REFS {
            assert_eq!(htmlize::unescape(format!("&{name}")), text, "{name}");
        }
        let cases = [
            "The region&rsquo;s aim &mdash; a test&hellip;",
            "&amp;rsquo; stays one decode",
            "&nbsp;&nbsp;x&shy;y &laquo;q&raquo;",
            "&rsquo",
            "&rsquox;",
            "&unknown; and &rsquo;",
            "&#8217; numeric",
            "a & b",
            "&",
            "plain",
            "Лукин&nbsp;А.В.&ndash;Корея",
        ];
        for t in cases {
            for mode in [Mode::Line, Mode::Block] {
                let mut c = Collapser::new(0, mode);
                if push_common_refs(t, &mut c) {
                    assert_eq!(c.finish(), collapse(&htmlize::unescape(t), mode), "{t:?}");
                }
            }
        }
    }

    #[test]
    fn collapsing_in_pieces_equals_collapsing_the_whole() {
        let s = "  a \n\n b\u{a0}\u{200b}c\t\t Лукин  \n x\u{7f}y  ";
        for mode in [Mode::Line, Mode::Block] {
            for cut in (0..=s.len()).filter(|&i| s.is_char_boundary(i)) {
                let mut c = Collapser::new(0, mode);
                c.push(&s[..cut]);
                c.push(&s[cut..]);
                assert_eq!(c.finish(), collapse(s, mode), "cut at {cut}");
            }
        }
    }
}
