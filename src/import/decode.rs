//! Reading a file of any encoding as UTF-8, a buffer at a time (never the whole file): the CSV
//! reader reads from this. Malformed bytes become U+FFFD, and a row holding one is refused with
//! its line number (`Row::check_encoding`) instead of the file failing.

use encoding_rs::{Encoding, GB18030, UTF_8};
use std::io::Read;

/// Bytes looked at to guess the encoding.
const SNIFF: usize = 64 * 1024;

/// The encoding a file is read in: chosen (`utf-8`, `gb18030`, or any WHATWG label such as
/// `gbk` or `big5`) or, for `auto`, guessed from its first 64 KiB.
pub fn choose(label: &str, head: &[u8]) -> Result<&'static Encoding, String> {
    match label.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(guess(head)),
        l => Encoding::for_label(l.as_bytes())
            .map(|e| if e == encoding_rs::GBK { GB18030 } else { e })
            .ok_or_else(|| format!("encoding {label:?} is not known (auto, utf-8, gb18030)")),
    }
}

/// A byte order mark decides; else UTF-8 when the head reads as UTF-8 but for a few malformed
/// sequences (at least twice as many non-ASCII characters read well: a file with some broken
/// rows is still a UTF-8 file, and those rows are refused, while GB18030 text read as UTF-8 is
/// mostly malformed);
/// else chardetng's guess among the legacy encodings (GBK files read as GB18030, its superset).
pub fn guess(head: &[u8]) -> &'static Encoding {
    if let Some((enc, _)) = Encoding::for_bom(head) {
        return enc;
    }
    let (good, bad) = utf8_census(head);
    if bad == 0 || good >= 2 * bad {
        return UTF_8;
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(head, head.len() < SNIFF);
    let enc = det.guess(None, chardetng::Utf8Detection::Deny);
    if enc == encoding_rs::GBK {
        GB18030
    } else {
        enc
    }
}

/// (non-ASCII characters read as UTF-8, malformed sequences) in `bytes`; a sequence cut by the
/// end of the sample is not counted as malformed.
fn utf8_census(mut bytes: &[u8]) -> (usize, usize) {
    let (mut good, mut bad) = (0, 0);
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                good += s.chars().filter(|c| !c.is_ascii()).count();
                return (good, bad);
            }
            Err(e) => {
                let (ok, rest) = bytes.split_at(e.valid_up_to());
                good += std::str::from_utf8(ok)
                    .map(|s| s.chars().filter(|c| !c.is_ascii()).count())
                    .unwrap_or(0);
                match e.error_len() {
                    Some(n) => {
                        bad += 1;
                        bytes = &rest[n..];
                    }
                    None => return (good, bad),
                }
            }
        }
    }
}

/// `inner` decoded from `encoding` into UTF-8 (a UTF-8 or matching byte order mark dropped).
pub struct Decoded<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    out: Vec<u8>,
    start: usize,
    eof: bool,
    /// Bytes of the file read so far (progress).
    pub bytes_read: u64,
}

impl<R: Read> Decoded<R> {
    pub fn new(inner: R, encoding: &'static Encoding) -> Self {
        Decoded {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; 16 * 1024],
            out: Vec::with_capacity(64 * 1024),
            start: 0,
            eof: false,
            bytes_read: 0,
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        self.out.clear();
        self.start = 0;
        while self.out.is_empty() && !self.eof {
            let n = self.inner.read(&mut self.input)?;
            self.bytes_read += n as u64;
            let last = n == 0;
            let cap = self.decoder.max_utf8_buffer_length(n).unwrap_or(4 * n + 16);
            self.out.resize(cap, 0);
            let (_, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.out, last);
            debug_assert_eq!(read, n);
            self.out.truncate(written);
            self.eof = last;
        }
        Ok(())
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.start >= self.out.len() {
            self.fill()?;
        }
        let n = buf.len().min(self.out.len() - self.start);
        buf[..n].copy_from_slice(&self.out[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

/// The first `SNIFF` bytes of a file.
pub fn head(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(SNIFF);
    (&mut f).take(SNIFF as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], enc: &'static Encoding) -> String {
        let mut s = String::new();
        Decoded::new(bytes, enc).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn guesses_utf8_gb18030_and_keeps_broken_utf8_rows() {
        let text = "姓名,手机\n王小明,13800138000\n李雷,13900139000\n";
        let (gb, _, _) = GB18030.encode(text);
        assert_eq!(guess(text.as_bytes()), UTF_8);
        assert_eq!(guess(&gb), GB18030);
        assert_eq!(decode(&gb, GB18030), text);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(guess(&bom), UTF_8);
        assert_eq!(decode(&bom, UTF_8), text);
        // A UTF-8 file with one broken row is still UTF-8; the bad bytes become U+FFFD.
        let mut broken = text.as_bytes().to_vec();
        broken.extend_from_slice(b"\xFF\xFEbad,1\n");
        assert_eq!(guess(&broken), UTF_8);
        assert!(decode(&broken, UTF_8).contains("\u{FFFD}\u{FFFD}bad"));
        assert!(choose("nope", b"").is_err());
        assert_eq!(choose("GBK", b"").unwrap(), GB18030);
    }

    #[test]
    fn reads_across_buffer_boundaries() {
        let row = "张三,13800138000,备注\n";
        let text = row.repeat(5000);
        let (gb, _, _) = GB18030.encode(&text);
        assert_eq!(decode(&gb, GB18030), text);
    }
}
