"""The address plan and the profile table, without building a lab."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

import pytest

from pytest_spider.lab import PROFILES, Lab, addressing, profiles


def test_v4_blocks_are_allocated_first_fit_around_links_and_taken_blocks() -> None:
    taken = [IPv4Network("198.18.16.0/20")]
    nets = addressing.allocate_v4(20, 2, taken)
    assert nets == [IPv4Network("198.18.32.0/20"), IPv4Network("198.18.48.0/20")]
    assert all(
        n.subnet_of(addressing.V4_SPACE) and not n.overlaps(addressing.V4_LINKS) for n in nets
    )
    with pytest.raises(RuntimeError, match="no room"):
        addressing.allocate_v4(16, 2, [])  # the links take part of the first /16


def test_plan_keeps_labs_and_families_apart() -> None:
    one, two = addressing.Plan(0, (), True), addressing.Plan(3, (), True)
    assert two.v6_lab == IPv6Network("2001:db8:3::/48")
    assert two.v6_block(0) == IPv6Network("2001:db8:3:1::/64")
    links = [link for plan in (one, two) for which in (0, 1) for link in plan.links(which)]
    ends = [end for link in links for end in (link.near, link.far)]
    assert len(ends) == len(set(ends)) == 16
    assert addressing.Plan(1, (), False).links(0) == [
        addressing.Link("198.18.0.9", "198.18.0.10", 30)
    ]
    assert addressing.Plan(1, (), False).v6_block(0) is None


def test_hosts_skip_the_first_and_last_address() -> None:
    assert addressing.hosts(IPv4Network("198.19.0.0/30"), 2) == ["198.19.0.1", "198.19.0.2"]
    assert addressing.hosts(IPv6Network("2001:db8:1:1::/64"), 1) == ["2001:db8:1:1::1"]
    with pytest.raises(ValueError, match="2 usable"):
        addressing.hosts(IPv4Network("198.19.0.0/30"), 3)


def test_profile_rules_render_per_family_only_where_needed() -> None:
    assert profiles.rules("clean") == []
    assert profiles.rules("blackhole") == ["drop"]
    assert profiles.rules("dscp_rewrite") == ["ip dscp set cs1", "ip6 dscp set cs1"]
    syn_data_v4, syn_data_v6 = profiles.rules("tfo_syn_drop")[1:]
    assert "ip length . @th,96,8 { 41-65535 . 0x50-0x5f," in syn_data_v4  # 20 + 20 + 1 byte
    assert "ip6 length . @th,96,8 { 21-65535 . 0x50-0x5f," in syn_data_v6
    assert set(PROFILES) >= {
        "clean",
        "blackhole",
        "reject",
        "tfo_syn_drop",
        "udp_drop",
        "ecn_strip",
        "ecn_drop",
        "dscp_rewrite",
        "slow",
    }


def test_bad_arguments_are_refused_before_anything_is_built() -> None:
    with pytest.raises(ValueError, match="unknown path profile"):
        Lab({"alive": "teleport"})
    with pytest.raises(ValueError, match="lower-case identifier"):
        Lab({"Alive Block": "clean"})
    with pytest.raises(ValueError, match="unknown lab servers"):
        Lab(servers=("apache",))
    with pytest.raises(ValueError, match="v4_prefix"):
        Lab(v4_prefix=8)
    with pytest.raises(RuntimeError, match="not running"):
        _ = Lab().client_ns
