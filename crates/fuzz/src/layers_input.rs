//! The byte format the `oci_layers` target reads its layers from, and writes
//! seeds in: a sequence of records
//!
//! `[media type: 1 byte] [digest length: 1 byte] [digest] [length: u32 LE] [bytes]`.
//!
//! The media-type byte picks from the Spin OCI media types, plus one the reader
//! must refuse. Digests are given, not computed, as a manifest gives them:
//! containerd checks a layer against its digest before the shim sees it, so the
//! reader has to cope with any pairing. A short final record takes what is left.

use spinshim_oci::media_types;

/// What the media-type byte selects (modulo the length).
pub const MEDIA_TYPES: &[&str] = &[
    media_types::LOCKED_APP,
    media_types::WASM_LAYER,
    media_types::WASM,
    media_types::DATA_LAYER,
    media_types::ARCHIVE_LAYER,
    "application/vnd.oci.image.layer.v1.tar+gzip",
];

/// At most this many layers are read (a real artifact has far fewer).
pub const MAX_LAYERS: usize = 32;

/// One decoded layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLayer {
    /// The media type.
    pub media_type: &'static str,
    /// The digest as a manifest would give it.
    pub digest: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// Decodes `data` into layers; never fails, whatever the bytes.
pub fn decode(mut data: &[u8]) -> Vec<RawLayer> {
    let mut layers = Vec::new();
    while !data.is_empty() && layers.len() < MAX_LAYERS {
        let media_type = MEDIA_TYPES[usize::from(data[0]) % MEDIA_TYPES.len()];
        let digest_len = data.get(1).copied().map_or(0, usize::from);
        let rest = data.get(2..).unwrap_or_default();
        let (digest, rest) = rest.split_at(digest_len.min(rest.len()));
        let (len, rest) = match rest.split_first_chunk::<4>() {
            Some((len, rest)) => (u32::from_le_bytes(*len) as usize, rest),
            None => (rest.len(), &[][..]),
        };
        let (bytes, rest) = rest.split_at(len.min(rest.len()));
        layers.push(RawLayer {
            media_type,
            digest: String::from_utf8_lossy(digest).into_owned(),
            bytes: bytes.to_vec(),
        });
        data = rest;
    }
    layers
}

/// Encodes layers so that [`decode`] gives them back (digests up to 255 bytes).
pub fn encode(layers: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (media_type, digest, bytes) in layers {
        let selector = MEDIA_TYPES
            .iter()
            .position(|m| m == media_type)
            .unwrap_or(MEDIA_TYPES.len() - 1);
        out.push(selector as u8);
        let digest = &digest.as_bytes()[..digest.len().min(255)];
        out.push(digest.len() as u8);
        out.extend_from_slice(digest);
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_survive_encoding() {
        let layers: Vec<(&str, &str, &[u8])> = vec![
            (media_types::WASM_LAYER, "sha256:aa", b"\0asm"),
            (media_types::LOCKED_APP, "sha256:bb", b"{}"),
        ];
        let decoded = decode(&encode(&layers));
        let again: Vec<(&str, &str, &[u8])> = decoded
            .iter()
            .map(|l| (l.media_type, l.digest.as_str(), l.bytes.as_slice()))
            .collect();
        assert_eq!(again, layers);
    }

    #[test]
    fn any_bytes_decode() {
        for data in [
            &b""[..],
            b"\x07",
            b"\x01\xff",
            b"\x02\x01x\x05\0\0\0ab",
            b"\x03\0\0\0",
        ] {
            assert!(decode(data).len() <= 1);
        }
    }
}
