//! Exact splitting of an amount by weights: shares are floor(amount × w / W) in 256-bit
//! arithmetic, and the rounding residue goes to one deterministic owner (the largest weight,
//! ties to the first in order), so the parts always add up to the whole.
use ethnum::I256;

/// Split `amount` by `weights` (non-negative, not all zero). Returns one part per weight.
pub fn split_exact(amount: i128, weights: &[i128]) -> Vec<i128> {
    let total: I256 = weights.iter().map(|w| I256::from(*w)).sum();
    assert!(
        total > I256::ZERO,
        "split_exact needs a positive total weight"
    );
    let mut parts: Vec<i128> = weights
        .iter()
        .map(|w| {
            let part = I256::from(amount) * I256::from(*w) / total; // truncates toward zero
            part.as_i128()
        })
        .collect();
    let residue = amount - parts.iter().sum::<i128>();
    let owner = residue_owner(weights);
    parts[owner] += residue;
    parts
}

/// Non-negative decimal text (`0.031611`) as Decimal(38, 18) units; `None` when it is not one.
pub fn units(text: &str) -> Option<i128> {
    let (int, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if frac.len() > 18
        || int.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac = format!("{frac:0<18}");
    Some(int.parse::<i128>().ok()? * 1_000_000_000_000_000_000 + frac.parse::<i128>().ok()?)
}

/// `part / total` as a Decimal(38, 18) unit count, truncated.
pub fn fraction(part: i128, total: i128) -> i128 {
    (I256::from(part) * I256::from(1_000_000_000_000_000_000i128) / I256::from(total)).as_i128()
}

/// Index of the largest weight, the first one on ties.
pub fn residue_owner(weights: &[i128]) -> usize {
    let mut best = 0;
    for (i, w) in weights.iter().enumerate() {
        if *w > weights[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirds_put_the_residue_on_the_first_largest() {
        assert_eq!(split_exact(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(split_exact(-100, &[1, 1, 1]), vec![-34, -33, -33]);
        assert_eq!(split_exact(10, &[1, 3]), vec![2, 8]);
    }

    #[test]
    fn huge_amounts_and_weights_do_not_overflow() {
        let amount = 10i128.pow(36); // a quintillion dollars at scale 18
        let weights = [10i128.pow(37), 3 * 10i128.pow(37), 1];
        let parts = split_exact(amount, &weights);
        assert_eq!(parts.iter().sum::<i128>(), amount);
        assert!(parts[1] > parts[0] * 2);
    }

    #[test]
    fn zero_weights_get_nothing() {
        assert_eq!(split_exact(7, &[0, 5, 0]), vec![0, 7, 0]);
    }
}
