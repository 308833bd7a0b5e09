//! The request mix of bench/api and the data it draws parameters from.
use std::collections::BTreeSet;

use crate::http::Client;

/// splitmix64: a seeded, dependency-free generator for the mix.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// What the mix draws its parameters from: found through the API before the first round.
pub struct Data {
    /// First days of the months with allocated cost, oldest first (YYYY-MM-DD).
    pub months: Vec<String>,
    pub teams: Vec<String>,
    pub services: Vec<String>,
}

/// Route label and weight (per mille of the requests). Dashboards and portals: mostly monthly and
/// daily cost by team and service for a month or a quarter, usually for one team; some billing
/// views; allocation lines of one team and day; explain; recommendations, alerts, budgets; now
/// and then source status and a Prometheus scrape.
pub const MIX: [(&str, u32); 12] = [
    ("costs by team, monthly", 160),
    ("costs by service, one team", 200),
    ("costs daily, one team", 150),
    ("costs by env, weekly", 40),
    ("costs by provider/region", 80),
    ("costs by cloud-service/tag", 30),
    ("allocations, team+day", 110),
    ("explain", 70),
    ("recommendations", 60),
    ("alerts", 60),
    ("budgets", 30),
    ("sources, /metrics", 10),
];

pub fn month_after(first_day: &str, n: u32) -> String {
    let (y, m) = (
        first_day[..4].parse::<u32>().unwrap(),
        first_day[5..7].parse::<u32>().unwrap(),
    );
    let k = y * 12 + (m - 1) + n;
    format!("{:04}-{:02}", k / 12, k % 12 + 1)
}

impl Data {
    /// A month: usually one of the last three (what people look at), sometimes any.
    fn month<'a>(&'a self, rng: &mut Rng) -> &'a str {
        let recent = &self.months[self.months.len().saturating_sub(3)..];
        if rng.chance(70) {
            rng.pick(recent).as_str()
        } else {
            rng.pick(&self.months).as_str()
        }
    }
    /// `from=…&to=…` of one month or of the quarter ending with it.
    fn window(&self, rng: &mut Rng, quarter_percent: u64) -> String {
        let m = self.month(rng);
        if rng.chance(quarter_percent) {
            let idx = self.months.iter().position(|x| x == m).unwrap().max(2);
            format!(
                "from={}&to={}",
                &self.months[idx - 2][..7],
                month_after(&self.months[idx], 1)
            )
        } else {
            format!("from={}&to={}", &m[..7], month_after(m, 1))
        }
    }

    /// A request of the mix: its route (index in `MIX`) and path.
    pub fn request(&self, rng: &mut Rng) -> (usize, String) {
        let mut roll = rng.below(MIX.iter().map(|(_, w)| *w as usize).sum());
        let mut route = 0;
        while roll >= MIX[route].1 as usize {
            roll -= MIX[route].1 as usize;
            route += 1;
        }
        (route, self.path(route, rng))
    }

    /// A path of one route of the mix, its parameters drawn as the mix draws them.
    pub fn path(&self, route: usize, rng: &mut Rng) -> String {
        let team = rng.pick(&self.teams).clone();
        let csv = if rng.chance(10) { "&format=csv" } else { "" };
        match route {
            0 => {
                let filter = if rng.chance(40) {
                    format!("&team={team}")
                } else {
                    String::new()
                };
                format!(
                    "/v1/costs?by=team&granularity=month&{}{filter}{csv}",
                    self.window(rng, 50)
                )
            }
            1 => format!(
                "/v1/costs?by=service&team={team}&granularity=month&{}{csv}",
                self.window(rng, 50)
            ),
            2 => {
                let by = if rng.chance(50) { "service" } else { "team" };
                format!(
                    "/v1/costs?by={by}&team={team}&granularity=day&{}{csv}",
                    self.window(rng, 0)
                )
            }
            3 => format!("/v1/costs?by=env&granularity=week&{}", self.window(rng, 0)),
            4 => {
                let by = if rng.chance(50) { "provider" } else { "region" };
                format!(
                    "/v1/costs?by={by}&granularity=month&{}{csv}",
                    self.window(rng, 50)
                )
            }
            5 => {
                let by = if rng.chance(50) {
                    "cloud-service"
                } else {
                    "tag:team"
                };
                format!(
                    "/v1/costs?by={by}&granularity=month&{}",
                    self.window(rng, 0)
                )
            }
            6 => {
                let m = self.month(rng);
                let day = 1 + rng.below(27);
                let (d, next) = (
                    format!("{}-{day:02}", &m[..7]),
                    format!("{}-{:02}", &m[..7], day + 1),
                );
                let page = if rng.chance(20) {
                    "&page_token=100"
                } else {
                    ""
                };
                format!("/v1/allocations?team={team}&from={d}&to={next}&page_size=100{page}")
            }
            7 => format!(
                "/v1/explain?service={}&month={}",
                rng.pick(&self.services),
                &self.month(rng)[..7]
            ),
            8 => {
                if rng.chance(50) {
                    format!("/v1/recommendations?team={team}")
                } else {
                    "/v1/recommendations".into()
                }
            }
            9 => "/v1/alerts".into(),
            10 => "/v1/budgets".into(),
            _ => {
                if rng.chance(50) {
                    "/v1/sources".into()
                } else {
                    "/metrics".into()
                }
            }
        }
    }
}

pub async fn discover(client: &Client) -> Data {
    let rows = |v: &serde_json::Value| v["rows"].as_array().cloned().unwrap_or_default();
    let teams_page = client
        .json("/v1/costs?by=team&granularity=month&page_size=10000")
        .await;
    let services_page = client
        .json("/v1/costs?by=service&granularity=month&page_size=10000")
        .await;
    let field = |rows: &[serde_json::Value], k: &str| -> BTreeSet<String> {
        rows.iter()
            .filter_map(|r| r[k].as_str().map(str::to_string))
            .collect()
    };
    let data = Data {
        months: field(&rows(&teams_page), "period").into_iter().collect(),
        teams: field(&rows(&teams_page), "group").into_iter().collect(),
        services: field(&rows(&services_page), "group").into_iter().collect(),
    };
    assert!(
        !data.months.is_empty() && !data.teams.is_empty(),
        "/v1/costs has no allocated cost: run `costmill allocate` first"
    );
    data
}
