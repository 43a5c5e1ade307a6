//! The node key file.

use cpc_network::{NODE_KEY_FILE, load_or_create_node_key, peer_id_from_key_file};
use std::fs;

#[test]
fn created_with_mode_0600_and_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let path = dir.join(NODE_KEY_FILE);
    assert!(!path.exists());

    let k1 = load_or_create_node_key(&dir).unwrap();
    assert!(path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "expected mode 0600, found {mode:o}");
    }
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim_end().len(), 64, "expected 64 hex digits, found {text:?}");
    assert!(text.trim_end().chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));

    // A restart reads the same key back.
    let k2 = load_or_create_node_key(&dir).unwrap();
    assert_eq!(k1.public().to_peer_id(), k2.public().to_peer_id());
    assert_eq!(fs::read_to_string(&path).unwrap(), text, "the key file was rewritten");
    assert_eq!(peer_id_from_key_file(&dir).unwrap(), k1.public().to_peer_id());

    // Another directory, another identity.
    let other = load_or_create_node_key(&tmp.path().join("other")).unwrap();
    assert_ne!(other.public().to_peer_id(), k1.public().to_peer_id());
}

#[test]
fn node_id_needs_an_existing_key() {
    let tmp = tempfile::tempdir().unwrap();
    let err = peer_id_from_key_file(tmp.path()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(!tmp.path().join(NODE_KEY_FILE).exists(), "node-id must not create a key");
}

#[test]
fn a_malformed_key_file_is_an_error_saying_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(NODE_KEY_FILE);
    fs::write(&path, "abcd\n").unwrap();
    let err = load_or_create_node_key(tmp.path()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("expected 64 hex digits"), "{err}");
    fs::write(&path, "Z".repeat(64)).unwrap();
    let err = load_or_create_node_key(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("lowercase hex"), "{err}");
    // The bad file is left alone, not replaced by a fresh identity.
    assert_eq!(fs::read_to_string(&path).unwrap(), "Z".repeat(64));
}

#[test]
fn a_known_secret_gives_a_known_peer_id() {
    // The file is the raw 32-byte ed25519 seed in hex: the same seed is the same PeerId.
    let tmp = tempfile::tempdir().unwrap();
    let hex = "01".repeat(32);
    fs::write(tmp.path().join(NODE_KEY_FILE), format!("{hex}\n")).unwrap();
    let kp = load_or_create_node_key(tmp.path()).unwrap();
    let expected = libp2p::identity::Keypair::ed25519_from_bytes([1u8; 32]).unwrap().public().to_peer_id();
    assert_eq!(kp.public().to_peer_id(), expected);
}
