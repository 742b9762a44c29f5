//! The request mix: what a sale does after its authorise.

use rand::Rng;

/// Shares of sales (0.0-1.0) that take each detour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    /// Cancel the basket instead of capturing it.
    pub cancel: f64,
    /// After the sale, refund an earlier captured basket of the same till.
    pub refund: f64,
    /// Resend the authorise with the same key and compare the answers.
    pub retry: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix { cancel: 0.05, refund: 0.02, retry: 0.03 }
    }
}

/// What one sale does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Plan {
    /// Replay the authorise (same key, same body) once.
    pub retry: bool,
    /// Cancel rather than capture.
    pub cancel: bool,
    /// Refund an earlier captured basket afterwards.
    pub refund: bool,
}

impl Mix {
    /// From percentages on the command line; each must be within 0-100.
    pub fn from_percent(cancel: f64, refund: f64, retry: f64) -> Result<Mix, String> {
        for (name, v) in [("cancel", cancel), ("refund", refund), ("retry", retry)] {
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("--{name}-pct must be within 0-100, not {v}"));
            }
        }
        Ok(Mix { cancel: cancel / 100.0, refund: refund / 100.0, retry: retry / 100.0 })
    }

    /// Draws one sale's plan; the three detours are independent.
    pub fn plan(&self, rng: &mut impl Rng) -> Plan {
        Plan { retry: rng.gen_bool(self.retry), cancel: rng.gen_bool(self.cancel), refund: rng.gen_bool(self.refund) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn plans_follow_the_mix() {
        let mix = Mix::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let n = 200_000;
        let (mut retry, mut cancel, mut refund) = (0u32, 0u32, 0u32);
        for _ in 0..n {
            let p = mix.plan(&mut rng);
            retry += u32::from(p.retry);
            cancel += u32::from(p.cancel);
            refund += u32::from(p.refund);
        }
        let share = |k: u32| f64::from(k) / f64::from(n);
        assert!((share(cancel) - 0.05).abs() < 0.003, "cancel {}", share(cancel));
        assert!((share(refund) - 0.02).abs() < 0.002, "refund {}", share(refund));
        assert!((share(retry) - 0.03).abs() < 0.002, "retry {}", share(retry));
    }

    #[test]
    fn percentages_are_checked() {
        assert_eq!(Mix::from_percent(5.0, 2.0, 3.0), Ok(Mix::default()));
        assert!(Mix::from_percent(101.0, 0.0, 0.0).is_err());
        assert!(Mix::from_percent(0.0, -1.0, 0.0).is_err());
        let never = Mix::from_percent(0.0, 0.0, 0.0).expect("zeros are fine");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!((0..1_000).all(|_| never.plan(&mut rng) == Plan::default()));
    }
}
