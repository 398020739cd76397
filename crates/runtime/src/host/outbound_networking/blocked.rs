//! `[outbound_networking] block_networks`: destinations no guest may reach,
//! checked on resolved addresses so that a name resolving into a blocked
//! network is refused too.

use std::net::IpAddr;

use anyhow::{bail, Result};
use ipnet::IpNet;

/// The entry that stands for every address that is not globally routable.
pub const PRIVATE: &str = "private";

/// Ranges that are not global: loopback, private, link-local, shared
/// (CGNAT), documentation, benchmarking, reserved, multicast and the
/// unspecified addresses, in both families.
const NON_GLOBAL: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "64:ff9b:1::/48",
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// The blocked networks of one app.
#[derive(Clone, Debug, Default)]
pub struct BlockedNetworks {
    networks: Vec<IpNet>,
}

impl BlockedNetworks {
    /// Parses `block_networks`: CIDRs, single addresses and `private`.
    /// `field` names the setting in errors.
    pub fn parse(entries: &[String], field: &str) -> Result<Self> {
        let mut networks = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            if entry == PRIVATE {
                networks.extend(NON_GLOBAL.iter().map(|net| net.parse::<IpNet>().unwrap()));
            } else if let Ok(net) = entry.parse::<IpNet>() {
                networks.push(net.trunc());
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                networks.push(IpNet::from(ip));
            } else {
                bail!(
                    "{field}: \"{entry}\" is neither a CIDR (e.g. \"10.0.0.0/8\"), an IP address \
                     nor \"{PRIVATE}\""
                );
            }
        }
        Ok(Self { networks })
    }

    /// True when nothing is blocked (the common case: no check at all).
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// True when `ip` (an IPv4-mapped IPv6 address counts as IPv4) lies in
    /// a blocked network.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let embedded = embedded_ipv4(ip);
        self.networks
            .iter()
            .any(|net| net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&v4)))
    }
}

/// The IPv4 address a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`)
/// address reaches, so that blocking an IPv4 network blocks it that way too.
fn embedded_ipv4(ip: IpAddr) -> Option<IpAddr> {
    let IpAddr::V6(v6) = ip else {
        return None;
    };
    let s = v6.segments();
    let v4 = if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        [s[6] >> 8, s[6] & 0xff, s[7] >> 8, s[7] & 0xff]
    } else if s[0] == 0x2002 {
        [s[1] >> 8, s[1] & 0xff, s[2] >> 8, s[2] & 0xff]
    } else {
        return None;
    };
    Some(IpAddr::from(v4.map(|b| b as u8)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(entries: &[&str]) -> BlockedNetworks {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        BlockedNetworks::parse(&entries, "block_networks").unwrap()
    }

    #[test]
    fn cidrs_and_single_addresses_block_what_they_cover() {
        let networks = blocked(&["10.1.2.3/16", "1.1.1.1", "2001:db8::/32"]);
        assert!(networks.is_blocked("10.1.200.1".parse().unwrap()));
        assert!(!networks.is_blocked("10.2.0.1".parse().unwrap()));
        assert!(networks.is_blocked("1.1.1.1".parse().unwrap()));
        assert!(!networks.is_blocked("1.1.1.2".parse().unwrap()));
        assert!(networks.is_blocked("2001:db8::5".parse().unwrap()));
        assert!(networks.is_blocked("::ffff:10.1.0.1".parse().unwrap()));
        assert!(
            networks.is_blocked("64:ff9b::a01:1".parse().unwrap()),
            "NAT64"
        );
        assert!(
            networks.is_blocked("2002:a01:1::1".parse().unwrap()),
            "6to4"
        );
        assert!(!networks.is_blocked("64:ff9b::a02:1".parse().unwrap()));
    }

    #[test]
    fn private_blocks_every_non_global_address_and_nothing_global() {
        let networks = blocked(&["private"]);
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "172.20.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "0.0.0.0",
        ] {
            assert!(networks.is_blocked(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "172.32.0.1"] {
            assert!(!networks.is_blocked(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_bad_entry_is_named() {
        let err = BlockedNetworks::parse(&["10.0.0.0/33".into()], "f").unwrap_err();
        assert!(err.to_string().contains("\"10.0.0.0/33\""), "{err}");
    }
}
