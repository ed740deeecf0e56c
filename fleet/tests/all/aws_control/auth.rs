//! SigV4 and the bearer token as AWS's SDK meets them (`auth.py`): the
//! exceptions AWS names for a wrong secret, an unknown key, a stale or
//! future signature and a body changed after signing; an unsigned request
//! refused; the token still accepted beside the key; and nothing a refused
//! request asked for in the store.

use super::AwsControl;
use jobhost_fleet::api::MAX_SKEW_SECS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_signs_and_wrong_signatures_are_refused_as_aws_does() {
    let aws = AwsControl::start().await;
    aws.run(
        "auth",
        &[
            "any_region_signs",
            "endpoint_from_the_environment",
            "wrong_secret",
            "unknown_key",
            "unsigned_is_refused",
            "bearer_token_still_works",
            "body_changed_after_signing",
            "declared_body_hash_must_match",
            "large_signed_upload_streams",
        ],
    )
    .await;
    {
        let store = aws.server.store.lock().unwrap();
        for refused in ["tampered", "tampered-declared", "unsigned"] {
            assert!(store.describe_job(refused).is_err(), "{refused} exists");
        }
        for accepted in ["untampered", "declared", "bearer-1"] {
            assert!(
                store.describe_job(accepted).is_ok(),
                "{accepted} is missing"
            );
        }
    }
    let stored = |name: &str| aws.server.artifacts.path_of(name).unwrap().exists();
    assert!(stored("big.bin"));
    assert!(!stored("forged.bin"), "forged.bin was stored");
    aws.stop().await;
}

/// The 15-minute window, on the service's clock: boto3 signs with the wall
/// clock, and the test moves the service's a minute past the window either
/// way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_outside_fifteen_minutes_is_refused() {
    let aws = AwsControl::start().await;
    aws.shift_clock(MAX_SKEW_SECS + 60);
    aws.run("auth", &["expired_signature"]).await;
    aws.shift_clock(-(MAX_SKEW_SECS + 60));
    aws.run("auth", &["signature_from_the_future"]).await;
    aws.shift_clock(0);
    aws.run("auth", &["any_region_signs"]).await;
    aws.stop().await;
}
