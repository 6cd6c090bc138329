//! Conformance cases for the initial access token capability.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::*;

fn token(id: &str, secret: &str) -> InitialAccessToken {
    InitialAccessToken {
        id: id.to_owned(),
        digest: SecretDigest::of(secret),
        profile: Some("partners".into()),
        created_at: NOW,
        expires_at: None,
        max_uses: None,
        uses: 0,
    }
}

type TokenSnapshot = (
    String,
    [u8; 32],
    Option<String>,
    u64,
    Option<u64>,
    Option<u64>,
    u64,
);

fn token_snapshot(t: &InitialAccessToken) -> TokenSnapshot {
    (
        t.id.clone(),
        *t.digest.as_bytes(),
        t.profile.clone(),
        t.created_at,
        t.expires_at,
        t.max_uses,
        t.uses,
    )
}

/// Initial access tokens: create, find by digest, list by id, revoke; a
/// duplicate id or digest is a `Conflict`.
pub(super) async fn initial_access_token_create_find_list_revoke(store: Arc<dyn ClientStore>) {
    let Some(tokens) = store.initial_access_tokens() else {
        return skip(
            "initial_access_token_create_find_list_revoke",
            "initial access token",
        );
    };
    let mut b = token("b", "token-b");
    b.expires_at = Some(NOW + 3600);
    b.max_uses = Some(5);
    b.profile = None;
    let a = token("a", "token-a");
    ok(
        tokens.create_initial_access_token(&b).await,
        "create token b",
    );
    ok(
        tokens.create_initial_access_token(&a).await,
        "create token a",
    );

    let found = ok(
        tokens
            .find_initial_access_token(&SecretDigest::of("token-b"))
            .await,
        "find",
    );
    assert_eq!(
        found.as_ref().map(token_snapshot),
        Some(token_snapshot(&b)),
        "find must return the stored token"
    );
    assert!(
        ok(
            tokens
                .find_initial_access_token(&SecretDigest::of("unknown"))
                .await,
            "find unknown"
        )
        .is_none(),
        "an unknown digest must find nothing"
    );

    for duplicate in [token("a", "token-c"), token("c", "token-b")] {
        match tokens.create_initial_access_token(&duplicate).await {
            Err(StoreError::Conflict) => {}
            other => {
                panic!("a token with an existing id or digest must be Conflict, got {other:?}")
            }
        }
    }

    let listed: Vec<_> = ok(tokens.list_initial_access_tokens().await, "list")
        .iter()
        .map(token_snapshot)
        .collect();
    assert_eq!(
        listed,
        vec![token_snapshot(&a), token_snapshot(&b)],
        "list must return every token ordered by id"
    );

    assert!(
        ok(tokens.revoke_initial_access_token("a").await, "revoke"),
        "revoking a stored token must be true"
    );
    assert!(
        !ok(
            tokens.revoke_initial_access_token("a").await,
            "revoke again"
        ),
        "revoking it again must be false"
    );
    assert!(
        ok(
            tokens
                .find_initial_access_token(&SecretDigest::of("token-a"))
                .await,
            "find revoked"
        )
        .is_none(),
        "a revoked token must be gone"
    );
    assert!(
        ok(
            tokens
                .consume_initial_access_token(&SecretDigest::of("token-a"), NOW)
                .await,
            "consume revoked"
        )
        .is_none(),
        "a revoked token must not be usable"
    );
}

/// A token works strictly before `expires_at` and not from then on.
pub(super) async fn initial_access_token_expires(store: Arc<dyn ClientStore>) {
    let Some(tokens) = store.initial_access_tokens() else {
        return skip("initial_access_token_expires", "initial access token");
    };
    let mut t = token("exp", "expiring");
    t.expires_at = Some(NOW + 10);
    ok(tokens.create_initial_access_token(&t).await, "create");
    let digest = SecretDigest::of("expiring");
    let used = ok(
        tokens.consume_initial_access_token(&digest, NOW + 9).await,
        "consume",
    );
    assert_eq!(
        used.map(|t| t.uses),
        Some(1),
        "a token must work before it expires"
    );
    for at in [NOW + 10, NOW + 11, u64::MAX] {
        assert!(
            ok(
                tokens.consume_initial_access_token(&digest, at).await,
                "consume"
            )
            .is_none(),
            "a token must not work at or after expires_at (tried {at})"
        );
    }
    let stored = ok(tokens.find_initial_access_token(&digest).await, "find");
    assert_eq!(
        stored.map(|t| t.uses),
        Some(1),
        "a refused use must not be counted"
    );
}

/// A token with `max_uses` works that many times; an unlimited one keeps
/// working; an unknown digest is `None`.
pub(super) async fn initial_access_token_max_uses(store: Arc<dyn ClientStore>) {
    let Some(tokens) = store.initial_access_tokens() else {
        return skip("initial_access_token_max_uses", "initial access token");
    };
    let mut limited = token("two", "two-uses");
    limited.max_uses = Some(2);
    ok(
        tokens.create_initial_access_token(&limited).await,
        "create limited",
    );
    ok(
        tokens
            .create_initial_access_token(&token("many", "unlimited"))
            .await,
        "create unlimited",
    );
    let digest = SecretDigest::of("two-uses");
    for expected in 1..=2 {
        let used = ok(
            tokens.consume_initial_access_token(&digest, NOW).await,
            "consume",
        );
        let used =
            used.unwrap_or_else(|| panic!("use {expected} of a two-use token must be granted"));
        assert_eq!(
            used.uses, expected,
            "consume must return the token with uses incremented"
        );
        assert_eq!(used.id, "two");
    }
    assert!(
        ok(
            tokens.consume_initial_access_token(&digest, NOW).await,
            "consume"
        )
        .is_none(),
        "a third use of a two-use token must be refused"
    );
    assert_eq!(
        ok(tokens.find_initial_access_token(&digest).await, "find").map(|t| t.uses),
        Some(2),
        "uses must stay at max_uses"
    );
    for expected in 1..=5 {
        let used = ok(
            tokens
                .consume_initial_access_token(&SecretDigest::of("unlimited"), NOW)
                .await,
            "consume",
        );
        assert_eq!(
            used.map(|t| t.uses),
            Some(expected),
            "an unlimited token must keep working"
        );
    }
    assert!(
        ok(
            tokens
                .consume_initial_access_token(&SecretDigest::of("nope"), NOW)
                .await,
            "consume unknown"
        )
        .is_none(),
        "an unknown token must be refused"
    );
}

/// Many concurrent uses of a one-use token: exactly one is granted.
pub(super) async fn one_use_token_race_has_one_winner(store: Arc<dyn ClientStore>) {
    if store.initial_access_tokens().is_none() {
        return skip("one_use_token_race_has_one_winner", "initial access token");
    }
    for round in 0..3 {
        let secret = format!("one-use-{round}");
        let mut t = token(&format!("once-{round}"), &secret);
        t.max_uses = Some(1);
        let tokens = store.initial_access_tokens().expect("checked above");
        ok(tokens.create_initial_access_token(&t).await, "create");
        let barrier = Arc::new(Barrier::new(RACERS));
        let tasks: Vec<_> = (0..RACERS)
            .map(|_| {
                let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                let digest = SecretDigest::of(&secret);
                tokio::spawn(async move {
                    let tokens = store.initial_access_tokens().expect("checked above");
                    barrier.wait().await;
                    tokens.consume_initial_access_token(&digest, NOW).await
                })
            })
            .collect();
        let mut granted = 0;
        for task in tasks {
            if ok(task.await.expect("a consume task panicked"), "consume").is_some() {
                granted += 1;
            }
        }
        assert_eq!(
            granted, 1,
            "round {round}: exactly one of {RACERS} concurrent uses of a one-use token must be granted"
        );
        let tokens = store.initial_access_tokens().expect("checked above");
        let stored = ok(
            tokens
                .find_initial_access_token(&SecretDigest::of(&secret))
                .await,
            "find",
        );
        assert_eq!(stored.map(|t| t.uses), Some(1));
    }
}
