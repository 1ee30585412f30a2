//! The YCSB core workloads (Cooper et al., "Benchmarking Cloud Serving Systems with YCSB", 2010) over the
//! DynamoDB API, on the bench table of `--items` items of about 1 KB:
//!
//! | workload | operations | key choice |
//! |---|---|---|
//! | A | 50% GetItem, 50% UpdateItem | zipfian |
//! | B | 95% GetItem, 5% UpdateItem | zipfian |
//! | C | 100% GetItem | zipfian |
//! | D | 95% GetItem, 5% PutItem of a new item | latest: the newest items most often |
//! | E | 95% Query of a short range (1-10 items of a partition), 5% PutItem of a new item | zipfian |
//! | F | 50% GetItem, 50% read-modify-write: GetItem, then a conditional UpdateItem of the same item | zipfian |
//!
//! An update sets the item's 1 KB `payload`. Each request is a function of (connection, request number), so
//! every server sees the same sequence. New items (D, E) take ids above the loaded ones, a block per
//! connection; "latest" reads pick, with the zipfian offset from the newest item the connection inserted,
//! its own inserts first and then the loaded items from the top down. F's read-modify-write is two requests
//! (YCSB measures it as one operation; here each half is a request of its own).

/// YCSB's Zipfian generator (Gray et al., "Quickly generating billion-record synthetic databases"),
/// constant 0.99: item 0 is the most popular, then 1, and so on.
pub struct Zipfian {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipfian {
    const THETA: f64 = 0.99;

    pub fn new(n: u64) -> Zipfian {
        let n = n.max(1);
        let theta = Self::THETA;
        let zeta = |upto: u64| (1..=upto).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let zetan = zeta(n);
        let zeta2 = zeta(2.min(n));
        let eta = if n < 2 {
            0.0
        } else {
            (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan)
        };
        Zipfian {
            n,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta,
        }
    }

    /// The rank drawn for `u` in [0, 1): 0 most often.
    pub fn rank(&self, u: f64) -> u64 {
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.n - 1);
        }
        let r = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.n - 1)
    }

    /// A rank scattered over the keys (YCSB's scrambled zipfian), so the popular items are not neighbours.
    pub fn scrambled(&self, u: f64) -> u64 {
        fnv64(self.rank(u)) % self.n
    }
}

fn fnv64(v: u64) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in v.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    A,
    B,
    C,
    D,
    E,
    F,
}

impl Mix {
    pub fn parse(name: &str) -> Option<Mix> {
        Some(match name {
            "ycsb-a" => Mix::A,
            "ycsb-b" => Mix::B,
            "ycsb-c" => Mix::C,
            "ycsb-d" => Mix::D,
            "ycsb-e" => Mix::E,
            "ycsb-f" => Mix::F,
            _ => return None,
        })
    }
}

/// One operation of a workload, on item ids.
#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    Read(u64),
    Update(u64),
    Insert(u64),
    /// A Query of `len` items of the item's partition, from the item on.
    Scan(u64, u64),
    /// The write half of a read-modify-write: an update on condition that the item is there.
    ConditionalUpdate(u64),
}

/// Each connection's block of ids for new items, above the loaded ones.
const INSERT_BLOCK: u64 = 1 << 32;
/// One request in twenty inserts (D, E): YCSB's 5%, at fixed places so the count so far is known.
const INSERT_EVERY: u64 = 20;

pub struct Ycsb {
    mix: Mix,
    items: u64,
    zipf: Zipfian,
}

impl Ycsb {
    pub fn new(mix: Mix, items: u64) -> Ycsb {
        Ycsb {
            mix,
            items: items.max(1),
            zipf: Zipfian::new(items),
        }
    }

    /// The operation of request `n` on connection `conn`; `random(n, salt)` is the connection's repeatable
    /// draw in [0, 1) for request `n`.
    pub fn op(&self, conn: u64, n: u64, random: impl Fn(u64, u64) -> f64) -> Op {
        let share = random(n, 1);
        let key = || self.zipf.scrambled(random(n, 2));
        let inserted = |upto: u64| upto / INSERT_EVERY;
        let insert_id = |k: u64| self.items + (conn + 1) * INSERT_BLOCK + k;
        match self.mix {
            Mix::A if share < 0.5 => Op::Update(key()),
            Mix::B if share < 0.05 => Op::Update(key()),
            Mix::A | Mix::B | Mix::C => Op::Read(key()),
            Mix::D | Mix::E if n % INSERT_EVERY == INSERT_EVERY - 1 => Op::Insert(insert_id(inserted(n))),
            Mix::D => {
                let back = self.zipf.rank(random(n, 2));
                let own = inserted(n);
                if back < own {
                    Op::Read(insert_id(own - 1 - back))
                } else {
                    Op::Read(self.items - 1 - (back - own).min(self.items - 1))
                }
            }
            Mix::E => Op::Scan(key(), 1 + (random(n, 3) * 10.0) as u64 % 10),
            // Requests 2k and 2k + 1 draw alike: a read-modify-write is such a pair on one item; otherwise
            // each is a read of its own item.
            Mix::F => {
                let first = n - n % 2;
                let rmw = random(first, 1) < 0.5;
                match (rmw, n % 2) {
                    (true, 0) => Op::Read(self.zipf.scrambled(random(first, 2))),
                    (true, _) => Op::ConditionalUpdate(self.zipf.scrambled(random(first, 2))),
                    (false, _) => Op::Read(self.zipf.scrambled(random(n, 3))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(n: u64, salt: u64) -> f64 {
        let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 31;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 29;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn zipfian_ranks_favour_the_first_items_and_stay_in_range() {
        let z = Zipfian::new(1000);
        let mut counts = vec![0u32; 1000];
        for i in 0..100_000u64 {
            counts[z.rank(uniform(i, 0)) as usize] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[500]);
        // With constant 0.99 about a fifth of the draws over 1,000 items are rank 0 or 1.
        let top2 = f64::from(counts[0] + counts[1]) / 100_000.0;
        assert!((0.15..0.30).contains(&top2), "{top2}");
        let z = Zipfian::new(1);
        assert_eq!(z.rank(0.99), 0);
        assert_eq!(z.scrambled(0.5), 0);
    }

    #[test]
    fn workloads_mix_operations_in_ycsbs_proportions() {
        let count = |mix: Mix| {
            let y = Ycsb::new(mix, 10_000);
            let mut c = [0u32; 5];
            for n in 0..20_000u64 {
                let op = y.op(3, n, uniform);
                let (i, id) = match op {
                    Op::Read(id) => (0, id),
                    Op::Update(id) => (1, id),
                    Op::Insert(id) => (2, id),
                    Op::Scan(id, len) => {
                        assert!((1..=10).contains(&len));
                        (3, id)
                    }
                    Op::ConditionalUpdate(id) => (4, id),
                };
                if i != 2 {
                    let inserted = 10_000 + 4 * INSERT_BLOCK..10_000 + 5 * INSERT_BLOCK;
                    assert!(id < 10_000 || inserted.contains(&id), "{mix:?} {op:?}");
                }
                c[i] += 1;
            }
            c.map(|x| f64::from(x) / 20_000.0)
        };
        let near = |x: f64, want: f64| (x - want).abs() < 0.02;
        let a = count(Mix::A);
        assert!(near(a[0], 0.5) && near(a[1], 0.5), "{a:?}");
        let b = count(Mix::B);
        assert!(near(b[0], 0.95) && near(b[1], 0.05), "{b:?}");
        assert_eq!(count(Mix::C)[0], 1.0);
        let d = count(Mix::D);
        assert!(near(d[0], 0.95) && near(d[2], 0.05), "{d:?}");
        let e = count(Mix::E);
        assert!(near(e[3], 0.95) && near(e[2], 0.05), "{e:?}");
        let f = count(Mix::F);
        assert!(near(f[0], 0.75) && near(f[4], 0.25), "{f:?}");
    }

    #[test]
    fn a_read_modify_write_reads_then_updates_the_same_item() {
        let y = Ycsb::new(Mix::F, 10_000);
        let mut pairs = 0;
        for k in 0..1000u64 {
            let (read, write) = (y.op(0, 2 * k, uniform), y.op(0, 2 * k + 1, uniform));
            if let Op::ConditionalUpdate(w) = write {
                assert_eq!(read, Op::Read(w));
                pairs += 1;
            }
        }
        assert!(pairs > 300, "{pairs}");
    }

    #[test]
    fn latest_reads_find_what_was_just_inserted() {
        let y = Ycsb::new(Mix::D, 10_000);
        let mut newest_hits = 0;
        for n in 1000..2000u64 {
            if let Op::Read(id) = y.op(1, n, uniform) {
                let newest = y.items + 2 * INSERT_BLOCK + n / INSERT_EVERY - 1;
                assert!(id <= newest, "{id} beyond {newest}");
                if id + 5 > newest {
                    newest_hits += 1;
                }
            }
        }
        // Zipfian over 10,000 items: the five newest take about 23% of the draws.
        assert!((150..350).contains(&newest_hits), "{newest_hits}");
    }
}
