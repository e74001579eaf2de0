//! Client networks that may relay without AUTH (`clients.networks`): an
//! organisation's mail server at a fixed address, as Postfix's
//! `mynetworks`. CIDR notation (RFC 4632 §3.1; IPv6 as RFC 4291 §2.3).

use std::net::IpAddr;
use std::str::FromStr;

/// An address block: `192.0.2.0/24`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a network: write an address or ADDRESS/PREFIX, e.g. 192.0.2.10 or 10.0.0.0/8")]
pub struct BadNetwork(pub String);

impl FromStr for Network {
    type Err = BadNetwork;

    fn from_str(text: &str) -> Result<Network, BadNetwork> {
        let bad = || BadNetwork(text.to_string());
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| bad())?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|&p| p <= bits).ok_or_else(bad)?,
            None => bits,
        };
        // Clients on a dual-stack socket are compared as IPv4 (`canonical`), so an
        // IPv4-mapped block (`::ffff:10.0.0.0/104`) is kept as the IPv4 block it means.
        let (address, prefix) = match canonical(address) {
            v4 @ IpAddr::V4(_) if address.is_ipv6() => (v4, prefix.checked_sub(96).ok_or_else(bad)?),
            _ => (address, prefix),
        };
        // Host bits set (10.0.0.1/8) are most likely a typo for something else.
        let network = Network { address, prefix };
        if network.masked(address) != address {
            return Err(bad());
        }
        Ok(network)
    }
}

impl Network {
    /// `address` with the bits past the prefix cleared.
    fn masked(&self, address: IpAddr) -> IpAddr {
        match address {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    /// The block holds every address of its family (`0.0.0.0/0`, `::/0`).
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        address.is_ipv4() == self.address.is_ipv4() && self.masked(address) == self.address
    }
}

/// An IPv4 client on a dual-stack socket (`::ffff:a.b.c.d`) as its IPv4 address.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::Network;

    fn net(text: &str) -> Network {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_contain_their_addresses_only() {
        assert!(net("10.0.0.0/8").contains("10.200.3.4".parse().unwrap()));
        assert!(!net("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
        assert!(net("127.0.0.1").contains("127.0.0.1".parse().unwrap()));
        assert!(!net("127.0.0.1").contains("127.0.0.2".parse().unwrap()));
        assert!(net("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()) && net("0.0.0.0/0").is_everything());
        assert!(!net("10.0.0.0/8").is_everything());
        assert!(net("2001:db8::/32").contains("2001:db8:1::5".parse().unwrap()));
        assert!(!net("2001:db8::/32").contains("10.0.0.1".parse().unwrap()));
        assert!(net("192.0.2.0/24").contains("::ffff:192.0.2.7".parse().unwrap()));
        // Written as IPv4-mapped IPv6, a block still matches the IPv4 clients it names.
        assert_eq!(net("::ffff:10.0.0.0/104"), net("10.0.0.0/8"));
        assert!(net("::ffff:192.0.2.7").contains("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn typos_are_refused() {
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "example.org", "10.0.0.0/", "::1/129", "::ffff:10.0.0.0/90"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }
}
