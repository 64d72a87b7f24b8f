//! Reading an S3 upload body as it streams in: plain bodies (checked against a declared
//! `x-amz-content-sha256`), `aws-chunked` bodies with SigV4 chunk signatures
//! (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, with or without a signed trailer) or unsigned with a
//! trailer (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`); and the integrity checks S3 applies to the
//! decoded bytes: `Content-MD5`, `x-amz-checksum-*` in a header or a trailer, and the decoded
//! length. Nothing is trusted until [`PayloadReader::finish`] says so.

use airlock_s3::checksum::{ChecksumAlgorithm, Hasher, Md5};
use airlock_s3::{Code, S3Error};
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf, Bytes, BytesMut};

use crate::body::RequestBody;
use crate::service::Signature;

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const MAX_LINE: usize = 8 * 1024;

fn hex(bytes: &[u8]) -> String {
    airlock_s3::crypto::hex(bytes)
}

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The bytes as they are.
    Plain,
    /// `aws-chunked` with chunk signatures.
    SignedChunks {
        /// A signed trailer follows the last chunk.
        trailer: bool,
    },
    /// `aws-chunked` without signatures, with a trailer.
    UnsignedChunks,
}

/// What the client declared about the payload, from the request's headers and signature.
#[derive(Debug, Clone)]
pub struct PayloadSpec {
    /// Framing.
    pub framing: Framing,
    /// The decoded length (`Content-Length` or `x-amz-decoded-content-length`).
    pub length: u64,
    /// A declared SHA-256 of a plain body (hex).
    pub sha256: Option<String>,
    /// `Content-MD5` (decoded).
    pub md5: Option<[u8; 16]>,
    /// A checksum given as a header: algorithm and base64 value.
    pub checksum_header: Option<(ChecksumAlgorithm, String)>,
    /// A checksum announced for the trailer (`x-amz-trailer`).
    pub checksum_trailer: Option<ChecksumAlgorithm>,
    /// An algorithm to compute without a value to check (`x-amz-sdk-checksum-algorithm`).
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn bad_digest_md5() -> S3Error {
    S3Error::new(
        Code::BadDigest,
        "The Content-MD5 you specified did not match what we received.",
    )
}

/// Parses `Content-MD5`.
pub fn content_md5(headers: &http::HeaderMap) -> Result<Option<[u8; 16]>, S3Error> {
    match header(headers, "content-md5") {
        None => Ok(None),
        Some(v) => {
            let bytes = STANDARD.decode(v.trim()).map_err(|_| {
                S3Error::new(
                    Code::InvalidDigest,
                    "The Content-MD5 you specified is not valid.",
                )
            })?;
            let arr: [u8; 16] = bytes.try_into().map_err(|_| {
                S3Error::new(
                    Code::InvalidDigest,
                    "The Content-MD5 you specified is not valid.",
                )
            })?;
            Ok(Some(arr))
        }
    }
}

/// The checksum header of a request, if any (at most one algorithm).
pub fn checksum_header(
    headers: &http::HeaderMap,
) -> Result<Option<(ChecksumAlgorithm, String)>, S3Error> {
    one_checksum_header(headers, false)
}

/// The object checksum `CompleteMultipartUpload` states in its `x-amz-checksum-*` header: a
/// full-object checksum, or a composite one (`BASE64-N`, the `-N` optional). It describes the
/// object being assembled, not the request's body.
pub fn object_checksum_header(
    headers: &http::HeaderMap,
) -> Result<Option<(ChecksumAlgorithm, String)>, S3Error> {
    one_checksum_header(headers, true)
}

/// The one `x-amz-checksum-*` header of a request, its value checked for the algorithm;
/// `composite` admits a `-N` part count after the digest.
fn one_checksum_header(
    headers: &http::HeaderMap,
    composite: bool,
) -> Result<Option<(ChecksumAlgorithm, String)>, S3Error> {
    let mut found = None;
    for alg in ChecksumAlgorithm::ALL {
        if let Some(v) = header(headers, alg.header()) {
            if found.is_some() {
                return Err(S3Error::invalid_request(
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            let v = v.trim();
            let digest = match v.rsplit_once('-') {
                Some((d, n))
                    if composite && n.parse::<u16>().is_ok_and(|n| (1..=10_000).contains(&n)) =>
                {
                    d
                }
                _ => v,
            };
            if !airlock_s3::checksum::valid_checksum_value(alg, digest) {
                return Err(S3Error::invalid_request(format!(
                    "Value for {} header is invalid.",
                    alg.header()
                )));
            }
            found = Some((alg, v.to_string()));
        }
    }
    Ok(found)
}

/// Checks a buffered body against `Content-MD5`.
pub fn verify_md5(headers: &http::HeaderMap, body: &[u8]) -> Result<(), S3Error> {
    if let Some(md5) = content_md5(headers)?
        && airlock_s3::checksum::md5(body) != md5
    {
        return Err(bad_digest_md5());
    }
    Ok(())
}

/// Checks a buffered body against `Content-MD5` and an `x-amz-checksum-*` header.
pub fn verify_buffered(headers: &http::HeaderMap, body: &[u8]) -> Result<(), S3Error> {
    if let Some(md5) = content_md5(headers)?
        && airlock_s3::checksum::md5(body) != md5
    {
        return Err(bad_digest_md5());
    }
    if let Some((alg, value)) = checksum_header(headers)?
        && airlock_s3::checksum::checksum_base64(alg, body) != value
    {
        return Err(S3Error::new(
            Code::BadDigest,
            format!(
                "The {} you specified did not match the calculated checksum.",
                alg.as_str()
            ),
        ));
    }
    Ok(())
}

impl PayloadSpec {
    /// Reads the declaration from the headers and the signature.
    pub fn from_request(
        headers: &http::HeaderMap,
        signature: Option<&Signature>,
    ) -> Result<PayloadSpec, S3Error> {
        let declared = signature
            .and_then(|s| s.content_sha256.clone())
            .or_else(|| header(headers, "x-amz-content-sha256").map(str::to_string));
        let framing = match declared.as_deref() {
            Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") => Framing::SignedChunks { trailer: false },
            Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") => {
                Framing::SignedChunks { trailer: true }
            }
            Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") => Framing::UnsignedChunks,
            Some(other) if other.starts_with("STREAMING-") => {
                return Err(S3Error::not_implemented(&format!(
                    "x-amz-content-sha256: {other}"
                )));
            }
            _ => Framing::Plain,
        };
        if matches!(framing, Framing::SignedChunks { .. }) && signature.is_none() {
            return Err(S3Error::invalid_request(
                "A signed streaming payload needs a signed request",
            ));
        }
        let length = match framing {
            Framing::Plain => header(headers, "content-length"),
            _ => header(headers, "x-amz-decoded-content-length"),
        };
        let length: u64 = match length {
            Some(v) => v.trim().parse().map_err(|_| {
                S3Error::invalid_argument("Invalid content length", "Content-Length", v)
            })?,
            None => {
                return Err(S3Error::new(
                    Code::MissingContentLength,
                    "You must provide the Content-Length HTTP header.",
                ));
            }
        };
        let sha256 = match (framing, declared) {
            (Framing::Plain, Some(h)) if h.len() == 64 => Some(h.to_ascii_lowercase()),
            _ => None,
        };
        let checksum_trailer = match header(headers, "x-amz-trailer") {
            None => None,
            Some(t) => {
                let name = t.trim().to_ascii_lowercase();
                let alg = ChecksumAlgorithm::ALL
                    .into_iter()
                    .find(|a| a.header() == name)
                    .ok_or_else(|| {
                        S3Error::invalid_request(format!(
                            "The value specified in the x-amz-trailer header is not supported: {t}"
                        ))
                    })?;
                if framing == Framing::Plain {
                    return Err(S3Error::invalid_request(
                        "x-amz-trailer needs an aws-chunked payload",
                    ));
                }
                Some(alg)
            }
        };
        let checksum_algorithm = match header(headers, "x-amz-sdk-checksum-algorithm").or_else(|| header(headers, "x-amz-checksum-algorithm")) {
            None => None,
            Some(a) => Some(ChecksumAlgorithm::parse(a.trim()).ok_or_else(|| {
                S3Error::invalid_request(format!("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]: {a}"))
            })?),
        };
        Ok(PayloadSpec {
            framing,
            length,
            sha256,
            md5: content_md5(headers)?,
            checksum_header: checksum_header(headers)?,
            checksum_trailer,
            checksum_algorithm,
        })
    }

    /// The algorithm of the object's checksum, if the client asked for one.
    pub fn algorithm(&self) -> Option<ChecksumAlgorithm> {
        self.checksum_header
            .as_ref()
            .map(|(a, _)| *a)
            .or(self.checksum_trailer)
            .or(self.checksum_algorithm)
    }
}

struct ChunkSigner {
    key: hmac::Key,
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkSigner {
    fn sign(&mut self, data_hash: &str) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{data_hash}",
            self.amz_date, self.scope, self.previous
        );
        hex(hmac::sign(&self.key, sts.as_bytes()).as_ref())
    }

    fn sign_trailer(&mut self, trailer_hash: &str) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{trailer_hash}",
            self.amz_date, self.scope, self.previous
        );
        hex(hmac::sign(&self.key, sts.as_bytes()).as_ref())
    }
}

enum State {
    /// Reading a chunk header line.
    Header,
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// Reading trailer lines.
    Trailer,
    /// All read.
    Done,
}

/// What [`PayloadReader::finish`] vouches for.
#[derive(Debug, Clone, Default)]
pub struct PayloadSummary {
    /// The checksum (algorithm, base64 value) the body was checked against or computed with.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

/// Streams the decoded body, checking everything the client declared.
pub struct PayloadReader {
    body: RequestBody,
    spec: PayloadSpec,
    buf: BytesMut,
    state: State,
    decoded: u64,
    signer: Option<ChunkSigner>,
    chunk_sig: Option<String>,
    chunk_hash: Option<digest::Context>,
    sha256: Option<digest::Context>,
    md5: Option<Md5>,
    hasher: Option<(ChecksumAlgorithm, Hasher)>,
    trailers: Vec<(String, String)>,
    body_done: bool,
}

fn incomplete() -> S3Error {
    S3Error::new(
        Code::IncompleteBody,
        "You did not provide the number of bytes specified by the Content-Length HTTP header",
    )
}

fn chunk_signature_mismatch() -> S3Error {
    S3Error::new(
        Code::SignatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
}

impl PayloadReader {
    /// A reader over `body`. `default_checksum` is computed when the client asked for none
    /// (S3 computes CRC64NVME for every new object).
    pub fn new(
        body: RequestBody,
        spec: PayloadSpec,
        signature: Option<&Signature>,
        default_checksum: Option<ChecksumAlgorithm>,
    ) -> Self {
        let signer = match (spec.framing, signature) {
            (Framing::SignedChunks { .. }, Some(s)) => Some(ChunkSigner {
                key: hmac::Key::new(hmac::HMAC_SHA256, &s.signing_key),
                amz_date: s.amz_date.clone(),
                scope: s.scope.clone(),
                previous: s.seed_signature.clone(),
            }),
            _ => None,
        };
        let alg = spec.algorithm().or(default_checksum);
        PayloadReader {
            body,
            state: if spec.framing == Framing::Plain {
                State::Data {
                    remaining: spec.length,
                }
            } else {
                State::Header
            },
            sha256: spec
                .sha256
                .as_ref()
                .map(|_| digest::Context::new(&digest::SHA256)),
            md5: spec.md5.map(|_| Md5::new()),
            hasher: alg.map(|a| (a, Hasher::new(a))),
            spec,
            buf: BytesMut::new(),
            decoded: 0,
            signer,
            chunk_sig: None,
            chunk_hash: None,
            trailers: Vec::new(),
            body_done: false,
        }
    }

    /// The decoded length announced.
    pub fn length(&self) -> u64 {
        self.spec.length
    }

    async fn fill(&mut self) -> Result<bool, S3Error> {
        if self.body_done {
            return Ok(false);
        }
        match self.body.data().await {
            Some(Ok(b)) => {
                self.buf.extend_from_slice(&b);
                Ok(true)
            }
            Some(Err(e)) => Err(body_error(e)),
            None => {
                self.body_done = true;
                Ok(false)
            }
        }
    }

    fn take_line(&mut self) -> Result<Option<String>, S3Error> {
        if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
            let line = self.buf.split_to(pos);
            self.buf.advance(2);
            let s = String::from_utf8(line.to_vec()).map_err(|_| incomplete())?;
            return Ok(Some(s));
        }
        if self.buf.len() > MAX_LINE {
            return Err(S3Error::invalid_request(
                "aws-chunked framing: a chunk header line is too long",
            ));
        }
        Ok(None)
    }

    fn account(&mut self, data: &[u8]) -> Result<(), S3Error> {
        self.decoded += data.len() as u64;
        if self.decoded > self.spec.length {
            return Err(S3Error::new(
                Code::IncompleteBody,
                "The request body is longer than the Content-Length (or decoded content length) announced",
            ));
        }
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some(m) = &mut self.md5 {
            m.update(data);
        }
        if let Some((_, h)) = &mut self.hasher {
            h.update(data);
        }
        if let Some(h) = &mut self.chunk_hash {
            h.update(data);
        }
        Ok(())
    }

    /// The next piece of decoded data, `None` at the end of the payload.
    pub async fn next(&mut self) -> Result<Option<Bytes>, S3Error> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Data { remaining } => {
                    if remaining == 0 {
                        if self.spec.framing == Framing::Plain {
                            self.state = State::Done;
                            // Anything after the announced length is an error of framing that
                            // hyper already prevents; drain to detect a short body.
                            return Ok(None);
                        }
                        self.state = State::DataEnd;
                        continue;
                    }
                    let data = if self.buf.is_empty() {
                        if self.body_done {
                            return Err(incomplete());
                        }
                        // Pass frames through without copying them.
                        match self.body.data().await {
                            Some(Ok(mut b)) => {
                                if b.len() as u64 > remaining {
                                    let rest = b.split_off(remaining as usize);
                                    self.buf.extend_from_slice(&rest);
                                }
                                b
                            }
                            Some(Err(e)) => return Err(body_error(e)),
                            None => {
                                self.body_done = true;
                                return Err(incomplete());
                            }
                        }
                    } else {
                        let take = (remaining.min(self.buf.len() as u64)) as usize;
                        self.buf.split_to(take).freeze()
                    };
                    let take = data.len();
                    if take == 0 {
                        continue;
                    }
                    self.account(&data)?;
                    self.state = State::Data {
                        remaining: remaining - take as u64,
                    };
                    return Ok(Some(data));
                }
                State::DataEnd => {
                    while self.buf.len() < 2 {
                        if !self.fill().await? {
                            return Err(incomplete());
                        }
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(S3Error::invalid_request(
                            "aws-chunked framing: chunk data is not followed by CRLF",
                        ));
                    }
                    self.buf.advance(2);
                    self.verify_chunk()?;
                    self.state = State::Header;
                }
                State::Header => {
                    let line = loop {
                        if let Some(l) = self.take_line()? {
                            break l;
                        }
                        if !self.fill().await? {
                            return Err(incomplete());
                        }
                    };
                    let (size, sig) = match line.split_once(';') {
                        Some((size, ext)) => {
                            let sig = ext
                                .split(';')
                                .find_map(|e| e.trim().strip_prefix("chunk-signature="))
                                .map(str::to_string);
                            (size.trim().to_string(), sig)
                        }
                        None => (line.trim().to_string(), None),
                    };
                    let size = u64::from_str_radix(&size, 16).map_err(|_| {
                        S3Error::invalid_request("aws-chunked framing: bad chunk size")
                    })?;
                    if self.signer.is_some() {
                        let sig = sig.ok_or_else(chunk_signature_mismatch)?;
                        self.chunk_sig = Some(sig);
                        self.chunk_hash = Some(digest::Context::new(&digest::SHA256));
                    }
                    if size == 0 {
                        self.verify_chunk()?;
                        self.state = State::Trailer;
                        continue;
                    }
                    self.state = State::Data { remaining: size };
                }
                State::Trailer => {
                    let line = loop {
                        if let Some(l) = self.take_line()? {
                            break l;
                        }
                        if !self.fill().await? {
                            // Some clients end the body right after the last trailer line.
                            if self.buf.is_empty() {
                                break String::new();
                            }
                            return Err(incomplete());
                        }
                    };
                    if line.is_empty() {
                        self.verify_trailer()?;
                        self.state = State::Done;
                        return Ok(None);
                    }
                    let (name, value) = line.split_once(':').ok_or_else(|| {
                        S3Error::invalid_request("aws-chunked framing: malformed trailer")
                    })?;
                    self.trailers
                        .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                    if self.trailers.len() > 16 {
                        return Err(S3Error::invalid_request(
                            "aws-chunked framing: too many trailers",
                        ));
                    }
                }
            }
        }
    }

    fn verify_chunk(&mut self) -> Result<(), S3Error> {
        if let (Some(signer), Some(sig), Some(hash)) = (
            &mut self.signer,
            self.chunk_sig.take(),
            self.chunk_hash.take(),
        ) {
            let expected = signer.sign(&hex(hash.finish().as_ref()));
            if aws_lc_rs::constant_time::verify_slices_are_equal(
                expected.as_bytes(),
                sig.as_bytes(),
            )
            .is_err()
            {
                return Err(chunk_signature_mismatch());
            }
            signer.previous = expected;
        }
        Ok(())
    }

    fn verify_trailer(&mut self) -> Result<(), S3Error> {
        if let (Framing::SignedChunks { trailer: true }, Some(signer)) =
            (self.spec.framing, &mut self.signer)
        {
            let mut canonical = String::new();
            let mut sig = None;
            for (k, v) in &self.trailers {
                if k == "x-amz-trailer-signature" {
                    sig = Some(v.clone());
                } else {
                    canonical.push_str(&format!("{k}:{v}\n"));
                }
            }
            let sig = sig.ok_or_else(chunk_signature_mismatch)?;
            let hash = hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref());
            let expected = signer.sign_trailer(&hash);
            if aws_lc_rs::constant_time::verify_slices_are_equal(
                expected.as_bytes(),
                sig.as_bytes(),
            )
            .is_err()
            {
                return Err(chunk_signature_mismatch());
            }
        }
        Ok(())
    }

    /// Checks the whole payload once read: length, declared SHA-256, `Content-MD5`, checksum
    /// (header or trailer). Returns the checksum to store.
    pub fn finish(mut self) -> Result<PayloadSummary, S3Error> {
        if !matches!(self.state, State::Done) {
            return Err(incomplete());
        }
        if self.decoded != self.spec.length {
            return Err(incomplete());
        }
        if let (Some(h), Some(expected)) = (self.sha256.take(), &self.spec.sha256)
            && hex(h.finish().as_ref()) != *expected
        {
            return Err(S3Error::new(
                Code::XAmzContentSHA256Mismatch,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
        if let (Some(m), Some(expected)) = (self.md5.take(), self.spec.md5)
            && m.finish() != expected
        {
            return Err(bad_digest_md5());
        }
        let mut summary = PayloadSummary::default();
        if let Some((alg, h)) = self.hasher.take() {
            let computed = h.finish_base64();
            let stated = match (&self.spec.checksum_header, self.spec.checksum_trailer) {
                (Some((_, v)), _) => Some(v.clone()),
                (None, Some(t)) => {
                    let v = self
                        .trailers
                        .iter()
                        .find(|(k, _)| k == t.header())
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| {
                            S3Error::invalid_request(format!(
                                "The trailer {} announced in x-amz-trailer is missing",
                                t.header()
                            ))
                        })?;
                    Some(v)
                }
                _ => None,
            };
            if let Some(stated) = stated
                && stated != computed
            {
                return Err(S3Error::new(
                    Code::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        alg.as_str()
                    ),
                ));
            }
            summary.checksum = Some((alg, computed));
        }
        Ok(summary)
    }
}

/// S3's answer to a body that could not be read.
fn body_error(e: crate::body::BodyError) -> S3Error {
    match e {
        crate::body::BodyError::Timeout => S3Error::new(Code::RequestTimeout, e.to_string()),
        crate::body::BodyError::Busy => S3Error::new(Code::SlowDown, e.to_string()),
        e => S3Error::new(
            Code::IncompleteBody,
            format!("The request body could not be read: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::sign::v4;

    fn signature(seed: &str) -> Signature {
        let time = crate::sigv4::parse_amz_date("20130524T000000Z").unwrap();
        let key = v4::generate_signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            time,
            "us-east-1",
            "s3",
        );
        Signature {
            location: crate::sigv4::AuthLocation::Header,
            content_sha256: Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into()),
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            seed_signature: seed.into(),
            signing_key: key.as_ref().to_vec(),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    async fn read_all(r: &mut PayloadReader) -> Result<Vec<u8>, S3Error> {
        let mut out = Vec::new();
        while let Some(b) = r.next().await? {
            out.extend_from_slice(&b);
        }
        Ok(out)
    }

    /// AWS's published example: "Signature Calculations for the Authorization Header:
    /// Transferring Payload in Multiple Chunks" (66560 bytes of 'a' in 64 KiB + 1 KiB chunks).
    #[tokio::test]
    async fn verifies_the_aws_documented_chunk_signatures() {
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let sigs = [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ];
        let mut body = Vec::new();
        body.extend(format!("10000;chunk-signature={}\r\n", sigs[0]).bytes());
        body.extend(std::iter::repeat_n(b'a', 65536));
        body.extend(b"\r\n");
        body.extend(format!("400;chunk-signature={}\r\n", sigs[1]).bytes());
        body.extend(std::iter::repeat_n(b'a', 1024));
        body.extend(b"\r\n");
        body.extend(format!("0;chunk-signature={}\r\n\r\n", sigs[2]).bytes());
        let sig = signature(seed);
        let h = headers(&[
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("x-amz-decoded-content-length", "66560"),
        ]);
        let spec = PayloadSpec::from_request(&h, Some(&sig)).unwrap();
        let mut r = PayloadReader::new(
            RequestBody::from_bytes(body.clone()),
            spec.clone(),
            Some(&sig),
            None,
        );
        assert_eq!(read_all(&mut r).await.unwrap().len(), 66560);
        r.finish().unwrap();

        // One byte changed in the data: the chunk signature fails.
        let mut tampered = body.clone();
        tampered[200] = b'b';
        let mut r = PayloadReader::new(
            RequestBody::from_bytes(tampered),
            spec.clone(),
            Some(&sig),
            None,
        );
        let e = read_all(&mut r).await.unwrap_err();
        assert_eq!(e.code, Code::SignatureDoesNotMatch);
    }

    #[tokio::test]
    async fn unsigned_trailer_checksums_are_checked() {
        let data = b"hello world";
        let crc = airlock_s3::checksum::checksum_base64(ChecksumAlgorithm::Crc32, data);
        let body = format!("b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n");
        let h = headers(&[
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-decoded-content-length", "11"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ]);
        let spec = PayloadSpec::from_request(&h, None).unwrap();
        let mut r = PayloadReader::new(
            RequestBody::from_bytes(body.clone()),
            spec.clone(),
            None,
            None,
        );
        assert_eq!(read_all(&mut r).await.unwrap(), data);
        assert_eq!(
            r.finish().unwrap().checksum,
            Some((ChecksumAlgorithm::Crc32, crc))
        );
        let wrong = body.replace("hello world", "hello World");
        let mut r = PayloadReader::new(RequestBody::from_bytes(wrong), spec, None, None);
        read_all(&mut r).await.unwrap();
        assert_eq!(r.finish().unwrap_err().code, Code::BadDigest);
    }

    #[tokio::test]
    async fn plain_bodies_check_length_hash_and_md5() {
        let data = b"abc";
        let sha = hex(digest::digest(&digest::SHA256, data).as_ref());
        let md5 = STANDARD.encode(airlock_s3::checksum::md5(data));
        let h = headers(&[
            ("content-length", "3"),
            ("x-amz-content-sha256", &sha),
            ("content-md5", &md5),
        ]);
        let spec = PayloadSpec::from_request(&h, None).unwrap();
        let mut r = PayloadReader::new(
            RequestBody::from_bytes(&data[..]),
            spec.clone(),
            None,
            Some(ChecksumAlgorithm::Crc64Nvme),
        );
        assert_eq!(read_all(&mut r).await.unwrap(), data);
        assert_eq!(
            r.finish().unwrap().checksum.unwrap().0,
            ChecksumAlgorithm::Crc64Nvme
        );
        let mut r = PayloadReader::new(
            RequestBody::from_bytes(&b"abd"[..]),
            spec.clone(),
            None,
            None,
        );
        read_all(&mut r).await.unwrap();
        assert_eq!(
            r.finish().unwrap_err().code,
            Code::XAmzContentSHA256Mismatch
        );
        let mut r = PayloadReader::new(RequestBody::from_bytes(&b"ab"[..]), spec, None, None);
        assert_eq!(
            read_all(&mut r).await.unwrap_err().code,
            Code::IncompleteBody
        );
        let h = headers(&[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]);
        assert_eq!(
            PayloadSpec::from_request(&h, None).unwrap_err().code,
            Code::MissingContentLength
        );
    }

    proptest::proptest! {
        #[test]
        fn chunked_parser_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), len in 0u64..500) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let h = headers(&[
                    ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                    ("x-amz-decoded-content-length", &len.to_string()),
                ]);
                let spec = PayloadSpec::from_request(&h, None).unwrap();
                let mut r = PayloadReader::new(RequestBody::from_bytes(body), spec, None, None);
                if read_all(&mut r).await.is_ok() {
                    let _ = r.finish();
                }
            });
        }
    }
}
