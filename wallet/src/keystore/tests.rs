//! The keystore's unit tests: round trips, authentication of every field, and the refusals
//! (one [`KeystoreError`] variant each).

use super::*;
use serde_json::Value;

fn sk(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i; 32])
}

#[test]
fn round_trip_with_test_parameters() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("ks");
    let k = sk(1);
    let a = Address::from_public_key(&k.public_key());
    let path = create_with(&dir, &k, "pw", INSECURE_TEST_KDF).unwrap();
    assert_eq!(path, key_path(&dir, &a));
    assert_eq!(unlock(&dir, &a, "pw").unwrap().to_bytes(), k.to_bytes());
    let e = unlock(&dir, &a, "pw2").unwrap_err();
    assert!(matches!(&e, KeystoreError::WrongPassword { path: p } if *p == path), "{e}");
    assert_eq!(e.to_string(), format!("wrong password or corrupted key file {}", path.display()));
    assert_eq!(list(&dir).unwrap(), vec![a]);
    let e = create_with(&dir, &k, "pw", INSECURE_TEST_KDF).unwrap_err();
    assert!(matches!(e, KeystoreError::KeyExists { address, .. } if address == a), "{e}");
    assert!(e.to_string().contains("already exists"), "{e}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let e = unlock(&dir, &a, "pw").unwrap_err();
        assert!(matches!(e, KeystoreError::PermissionsTooOpen { mode: 0o640, .. }), "{e}");
        assert!(e.to_string().contains("permissions 0640 for key file") && e.to_string().contains("too open"), "{e}");
        assert!(matches!(list(&dir), Err(KeystoreError::PermissionsTooOpen { .. })));
    }
}

#[test]
fn default_parameters_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let k = sk(2);
    let a = Address::from_public_key(&k.public_key());
    let path = create_with(d.path(), &k, "correct horse", DEFAULT_KDF).unwrap();
    let kf = read_key_file(&path).unwrap();
    assert_eq!(kf.cost(), DEFAULT_KDF);
    assert_eq!(unlock(d.path(), &a, "correct horse").unwrap().public_key(), k.public_key());
}

#[test]
fn every_field_is_authenticated() {
    let d = tempfile::tempdir().unwrap();
    let k = sk(3);
    let a = Address::from_public_key(&k.public_key());
    let path = create_with(d.path(), &k, "pw", INSECURE_TEST_KDF).unwrap();
    let orig: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let other = Address::from_public_key(&sk(4).public_key());
    // Changes that still pass the shape checks must fail the tag.
    let edits: Vec<Box<dyn Fn(&mut Value)>> = vec![
        Box::new(|v| v["kdf"]["t_cost"] = 2.into()),
        Box::new(|v| v["kdf"]["m_cost_kib"] = 512.into()),
        Box::new(|v| v["kdf"]["salt"] = "00".repeat(32).into()),
        Box::new(|v| v["cipher"]["nonce"] = "00".repeat(24).into()),
        Box::new(|v| {
            let mut c = v["ciphertext"].as_str().unwrap().to_string();
            let flip = if c.ends_with('0') { '1' } else { '0' };
            c.pop();
            c.push(flip);
            v["ciphertext"] = c.into();
        }),
    ];
    for edit in edits {
        let mut v = orig.clone();
        edit(&mut v);
        fs::remove_file(&path).unwrap();
        write_new_file(&path, v.to_string().as_bytes()).unwrap();
        let e = unlock(d.path(), &a, "pw").unwrap_err();
        assert!(matches!(e, KeystoreError::WrongPassword { .. }), "{e}");
    }
    // Swapping in another key's identity is refused before decryption.
    let mut v = orig.clone();
    v["address"] = other.to_string().into();
    fs::remove_file(&path).unwrap();
    write_new_file(&path, v.to_string().as_bytes()).unwrap();
    let e = unlock(d.path(), &a, "pw").unwrap_err();
    assert!(
        matches!(e, KeystoreError::AddressNotOfPublicKey { address, derived, .. } if address == other && derived == a),
        "{e}"
    );
    // A newer version says so.
    let mut v = orig.clone();
    v["version"] = 2.into();
    fs::remove_file(&path).unwrap();
    write_new_file(&path, v.to_string().as_bytes()).unwrap();
    let e = unlock(d.path(), &a, "pw").unwrap_err();
    assert!(matches!(e, KeystoreError::UnsupportedVersion { found: 2, .. }), "{e}");
    assert!(e.to_string().contains("unsupported version 2 (this cpcd reads version 1)"), "{e}");
    // Absurd KDF costs are refused without running them.
    let mut v = orig.clone();
    v["kdf"]["m_cost_kib"] = u32::MAX.into();
    fs::remove_file(&path).unwrap();
    write_new_file(&path, v.to_string().as_bytes()).unwrap();
    let e = unlock(d.path(), &a, "pw").unwrap_err();
    assert!(matches!(e, KeystoreError::KdfCostOutOfRange { cost, .. } if cost.m_cost_kib == u32::MAX), "{e}");
    assert!(e.to_string().contains("out of range"), "{e}");
}

#[test]
fn associated_data_is_documented_canonical_json() {
    let kf = encrypt(&sk(5), "pw", INSECURE_TEST_KDF).unwrap();
    let aad = String::from_utf8(kf.associated_data()).unwrap();
    let want = format!(
        "CPC-KEYSTORE-V1:{{\"address\":\"{}\",\"cipher\":{{\"name\":\"xchacha20-poly1305\",\"nonce\":\"{}\"}},\"format\":\"cpc-keystore\",\"kdf\":{{\"m_cost_kib\":256,\"name\":\"argon2id\",\"p_cost\":1,\"salt\":\"{}\",\"t_cost\":1,\"version\":19}},\"public_key\":\"{}\",\"version\":1}}",
        kf.address, kf.cipher.nonce, kf.kdf.salt, kf.public_key
    );
    assert_eq!(aad, want);
    assert!(!serde_json::to_string(&kf).unwrap().contains(&sk(5).to_hex()));
}

#[test]
fn secret_hex_parsing_never_echoes_input() {
    let k = sk(6);
    assert_eq!(parse_secret_hex(&format!("  {}\n", k.to_hex())).unwrap().to_bytes(), k.to_bytes());
    assert_eq!(parse_secret_hex(&format!("0x{}", k.to_hex().to_uppercase())).unwrap().to_bytes(), k.to_bytes());
    let almost = &k.to_hex()[..63];
    let e = parse_secret_hex(almost).unwrap_err();
    assert!(matches!(e, KeystoreError::BadSecretHex { found_chars: 63, non_hex: false }), "{e}");
    let e = e.to_string();
    assert!(e.contains("64 hex digits") && !e.contains(almost), "{e}");
    let bad = format!("{}zz", &k.to_hex()[..62]);
    let e = parse_secret_hex(&bad).unwrap_err();
    assert!(matches!(e, KeystoreError::BadSecretHex { found_chars: 64, non_hex: true }), "{e}");
    let e = e.to_string();
    assert!(e.contains("non-hex") && !e.contains(&bad[..10]), "{e}");
}

#[test]
fn password_file_first_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pw");
    fs::write(&p, "s3cret pass\r\nsecond line\n").unwrap();
    assert_eq!(read_password(Some(&p), "").unwrap(), "s3cret pass");
    fs::write(&p, "x").unwrap();
    assert_eq!(read_password(Some(&p), "").unwrap(), "x");
    fs::write(&p, "\n").unwrap();
    assert_eq!(read_password(Some(&p), "").unwrap(), "");
}

/// A valid key file of `sk(7)` in `dir` (returned as JSON to edit) and its address.
fn fixture(dir: &Path) -> (Value, Address, PathBuf) {
    let k = sk(7);
    let a = Address::from_public_key(&k.public_key());
    let path = create_with(dir, &k, "pw", INSECURE_TEST_KDF).unwrap();
    let v = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    (v, a, path)
}

fn rewrite(path: &Path, bytes: &[u8]) {
    fs::remove_file(path).unwrap();
    write_new_file(path, bytes).unwrap();
}

#[test]
fn every_file_refusal_has_its_variant() {
    let d = tempfile::tempdir().unwrap();
    let (orig, a, path) = fixture(d.path());
    let unlock_err = |v: &Value| {
        rewrite(&path, v.to_string().as_bytes());
        unlock(d.path(), &a, "pw").unwrap_err()
    };

    let mut v = orig.clone();
    v["format"] = "other".into();
    let e = unlock_err(&v);
    assert!(matches!(&e, KeystoreError::NotAKeyFile { found: Some(f), .. } if f == "other"), "{e}");
    assert!(e.to_string().contains("(format \"other\", expected \"cpc-keystore\")"), "{e}");
    let mut v = orig.clone();
    v.as_object_mut().unwrap().remove("format");
    let e = unlock_err(&v);
    assert!(matches!(e, KeystoreError::NotAKeyFile { found: None, .. }), "{e}");
    assert!(e.to_string().contains("not a cpc key file (no \"format\": \"cpc-keystore\")"), "{e}");

    let mut v = orig.clone();
    v["version"] = "1".into();
    assert!(matches!(unlock_err(&v), KeystoreError::NoVersion { .. }));

    let mut v = orig.clone();
    v["extra"] = 1.into();
    let e = unlock_err(&v);
    assert!(matches!(e, KeystoreError::BadFields { .. }), "{e}");
    let chain = format!("{:#}", anyhow::Error::from(e));
    assert!(chain.starts_with(&format!("key file {}: unknown field `extra`", path.display())), "{chain}");

    let mut v = orig.clone();
    v["kdf"]["name"] = "scrypt".into();
    let e = unlock_err(&v);
    assert!(matches!(&e, KeystoreError::UnsupportedKdf { name, version: 19, .. } if name == "scrypt"), "{e}");
    assert!(e.to_string().contains("expected \"argon2id\" version 19"), "{e}");

    let mut v = orig.clone();
    v["cipher"]["name"] = "aes-256-gcm".into();
    let e = unlock_err(&v);
    assert!(matches!(&e, KeystoreError::UnsupportedCipher { name, .. } if name == "aes-256-gcm"), "{e}");

    let mut v = orig.clone();
    v["kdf"]["salt"] = v["kdf"]["salt"].as_str().unwrap().to_uppercase().into();
    let e = unlock_err(&v);
    assert!(
        matches!(e, KeystoreError::BadHex { field: "kdf.salt", expected_digits: 64, found_chars: 64, non_hex: true, .. }),
        "{e}"
    );
    let mut v = orig.clone();
    v["cipher"]["nonce"] = "00".into();
    let e = unlock_err(&v);
    assert!(
        matches!(e, KeystoreError::BadHex { field: "cipher.nonce", expected_digits: 48, found_chars: 2, non_hex: false, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("cipher.nonce: expected 48 lowercase hex digits, found 2 characters"), "{e}");

    rewrite(&path, b"{not json");
    let e = unlock(d.path(), &a, "pw").unwrap_err();
    assert!(matches!(e, KeystoreError::NotJson { .. }), "{e}");
    assert!(format!("{:#}", anyhow::Error::from(e)).contains(": not JSON: "));

    rewrite(&path, &vec![b' '; MAX_KEY_FILE_BYTES as usize + 1]);
    let e = unlock(d.path(), &a, "pw").unwrap_err();
    assert!(matches!(e, KeystoreError::FileTooLarge { size, .. } if size == MAX_KEY_FILE_BYTES + 1), "{e}");

    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    let e = unlock(d.path(), &a, "pw").unwrap_err();
    assert!(matches!(e, KeystoreError::NotARegularFile { .. }), "{e}");
}

#[test]
fn missing_and_misplaced_keys() {
    let d = tempfile::tempdir().unwrap();
    let (_, a, path) = fixture(d.path());
    let stranger = Address::from_public_key(&sk(8).public_key());
    let e = unlock(d.path(), &stranger, "pw").unwrap_err();
    assert!(matches!(e, KeystoreError::KeyNotFound { address, .. } if address == stranger), "{e}");
    assert!(e.to_string().starts_with(&format!("no key for {stranger} in keystore {}", d.path().display())), "{e}");

    // A valid key file under another address's name.
    fs::hard_link(&path, key_path(d.path(), &stranger)).unwrap();
    let e = unlock(d.path(), &stranger, "pw").unwrap_err();
    assert!(matches!(e, KeystoreError::WrongAddress { expected, found, .. } if expected == stranger && found == a), "{e}");

    // I/O errors name the path, and anyhow's `{:#}` adds the OS reason as before.
    let e = read_key_file(&d.path().join("absent.json")).unwrap_err();
    assert!(matches!(e, KeystoreError::Io { action: "key file", .. }), "{e}");
    let chain = format!("{:#}", anyhow::Error::from(e));
    assert!(chain.starts_with(&format!("key file {}: ", d.path().join("absent.json").display())), "{chain}");

    // A keystore path that is a file.
    let e = create_with(&path, &sk(9), "pw", INSECURE_TEST_KDF).unwrap_err();
    assert!(matches!(e, KeystoreError::NotADirectory { .. }), "{e}");
    // A name that is taken is never replaced.
    let e = write_new_file(&path, b"{}").unwrap_err();
    assert!(matches!(e, KeystoreError::FileExists { .. }), "{e}");
}

#[test]
fn new_passwords() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pw");
    fs::write(&p, "\n").unwrap();
    assert!(matches!(read_new_password(Some(&p)), Err(KeystoreError::EmptyPassword)));
    fs::write(&p, "good one\n").unwrap();
    assert_eq!(*read_new_password(Some(&p)).unwrap(), "good one");
    let e = read_password(Some(&d.path().join("absent")), "").unwrap_err();
    assert!(matches!(e, KeystoreError::Io { action: "reading password file", .. }), "{e}");
}
