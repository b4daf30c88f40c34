//! Access tokens on both backends: an expiry is kept and listed, a token without one
//! has none, and revocation leaves the expiry as it was.

use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite};
use crate::store::tokens::{NewToken, Role};

fn new(name: &str, hash: &str, expires_ms: Option<i64>) -> NewToken {
    NewToken {
        name: name.into(),
        role: Role::Team,
        team: Some("team_a".into()),
        sha256: hash.repeat(32),
        expires_ms,
    }
}

fn tokens_keep_their_expiry(store: &dyn Store) {
    let lasting = store
        .create_token(&new("lasting", "ab", None), 1_000)
        .unwrap();
    let brief = store
        .create_token(&new("brief", "cd", Some(5_000)), 1_000)
        .unwrap();
    assert_eq!(lasting.expires_ms, None);
    assert_eq!(brief.expires_ms, Some(5_000));
    let found = store.token_by_hash(&"cd".repeat(32)).unwrap().unwrap();
    assert_eq!(found.expires_ms, Some(5_000));
    assert!(!found.expired(4_999) && found.expired(5_000));
    assert!(!lasting.expired(i64::MAX));
    let listed: Vec<_> = store
        .tokens()
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.expires_ms))
        .collect();
    assert_eq!(
        listed,
        vec![("lasting".into(), None), ("brief".into(), Some(5_000))]
    );
    assert!(store.revoke_token(brief.id, 2_000).unwrap());
    let revoked = store.token_by_hash(&"cd".repeat(32)).unwrap().unwrap();
    assert_eq!(
        (revoked.revoked_ms, revoked.expires_ms),
        (Some(2_000), Some(5_000))
    );
}

mod on_sqlite {
    #[test]
    fn tokens_keep_their_expiry() {
        super::tokens_keep_their_expiry(super::sqlite().store.as_ref());
    }
}

mod on_postgres {
    #[test]
    fn tokens_keep_their_expiry() {
        if let Some(pg) = super::pg() {
            super::tokens_keep_their_expiry(pg.store.as_ref());
        }
    }
}
