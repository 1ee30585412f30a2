//! Request quotas per account and region, as AWS KMS enforces them ("Request quotas" in the developer
//! guide), when the server is configured with some (`--kms-quotas`; none by default, since most users want
//! a key service that never throttles). A quota is a number of requests a second: the cryptographic
//! operations share one (`cryptographic`, AWS's "Cryptographic operations (symmetric) request rate"), and
//! any other operation may have its own, by name (`CreateKey=5`). Past it, KMS refuses the rest of that
//! second's requests with `ThrottlingException`.
//!
//! ⚠ AWS counts cryptographic operations with RSA and ECC keys against quotas of their own; here they share
//! the cryptographic one. Only requests received on the KMS API count: DynamoDB's calls on a caller's
//! behalf (which AWS counts too) are not throttled, as a table key is decrypted once per cache lifetime.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::KmsError;

/// The operations that share the `cryptographic` quota.
const CRYPTOGRAPHIC: [&str; 12] = [
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "ReEncrypt",
    "Sign",
    "Verify",
    "VerifyMac",
];

/// (account, region, quota) to (the second, requests in it so far).
type Counts = HashMap<(String, String, String), (i64, u32)>;

#[derive(Debug, Default)]
pub struct Quotas {
    /// Quota name (`cryptographic` or an operation) to requests a second.
    limits: HashMap<String, u32>,
    used: Mutex<Counts>,
}

impl Quotas {
    /// Reads `name=requests_per_second,...`, names being `cryptographic` or operation names.
    pub fn parse(spec: &str) -> Result<Quotas, String> {
        let mut limits = HashMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, rate) = part
                .split_once('=')
                .ok_or_else(|| format!("a quota is NAME=REQUESTS_PER_SECOND, not '{part}'"))?;
            let rate: u32 = rate
                .trim()
                .parse()
                .map_err(|_| format!("'{rate}' in '{part}' is not a number of requests a second"))?;
            let name = name.trim();
            let valid = name == "cryptographic" || name.chars().all(|c| c.is_ascii_alphanumeric()) && !name.is_empty();
            if !valid {
                return Err(format!("'{name}' is neither 'cryptographic' nor an operation name"));
            }
            limits.insert(name.to_owned(), rate);
        }
        Ok(Quotas {
            limits,
            used: Mutex::new(HashMap::new()),
        })
    }

    /// The quota `op` counts against.
    fn quota_of(op: &str) -> &str {
        if CRYPTOGRAPHIC.contains(&op) {
            "cryptographic"
        } else {
            op
        }
    }

    /// Counts a request of `op` by `account` in `region` at `now_ms`; refused past the quota of its second.
    pub fn admit(&self, account: &str, region: &str, op: &str, now_ms: i64) -> Result<(), KmsError> {
        if self.limits.is_empty() {
            return Ok(());
        }
        let quota = Self::quota_of(op);
        let Some(&limit) = self.limits.get(quota) else {
            return Ok(());
        };
        let second = now_ms.div_euclid(1000);
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.len() > 10_000 {
            used.retain(|_, (s, _)| *s == second);
        }
        let slot = used
            .entry((account.to_owned(), region.to_owned(), quota.to_owned()))
            .or_insert((second, 0));
        if slot.0 != second {
            *slot = (second, 0);
        }
        if slot.1 >= limit {
            return Err(KmsError::Throttling(
                "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.".into(),
            ));
        }
        slot.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_count_per_account_region_and_second() {
        let q = Quotas::parse("cryptographic=3, CreateKey=1").unwrap();
        let at = 10_000;
        for op in ["Encrypt", "Decrypt", "GenerateDataKey"] {
            q.admit("111122223333", "us-east-1", op, at).unwrap();
        }
        let e = q.admit("111122223333", "us-east-1", "ReEncrypt", at + 999).unwrap_err();
        assert_eq!(e.code(), "ThrottlingException");
        assert_eq!(e.status(), 400);
        // Another account, another region, another quota, and the next second are not affected.
        q.admit("444455556666", "us-east-1", "Encrypt", at).unwrap();
        q.admit("111122223333", "eu-west-1", "Encrypt", at).unwrap();
        q.admit("111122223333", "us-east-1", "CreateKey", at).unwrap();
        assert!(q.admit("111122223333", "us-east-1", "CreateKey", at).is_err());
        q.admit("111122223333", "us-east-1", "DescribeKey", at).unwrap();
        q.admit("111122223333", "us-east-1", "Encrypt", at + 1000).unwrap();
    }

    #[test]
    fn no_quota_is_enforced_unless_configured() {
        let q = Quotas::default();
        for _ in 0..10_000 {
            q.admit("111122223333", "us-east-1", "Encrypt", 0).unwrap();
        }
        assert!(Quotas::parse("Encrypt").is_err());
        assert!(Quotas::parse("Encrypt=fast").is_err());
        assert!(Quotas::parse("not a name=3").is_err());
        assert!(Quotas::parse("").unwrap().limits.is_empty());
    }
}
