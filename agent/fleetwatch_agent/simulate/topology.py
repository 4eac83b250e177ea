"""The Tiền Giang sites: 18 departments, 11 district-level units, 172 communes."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Site:
    slug: str
    name: str
    district: str
    site_type: str  # department | district | commune


# District-level units: slug, display name, number of communes (172 in all).
DISTRICTS: tuple[tuple[str, str, int], ...] = (
    ("tp-my-tho", "Thành phố Mỹ Tho", 17),
    ("tx-go-cong", "Thị xã Gò Công", 12),
    ("tx-cai-lay", "Thị xã Cai Lậy", 16),
    ("h-cai-be", "Huyện Cái Bè", 25),
    ("h-cai-lay", "Huyện Cai Lậy", 16),
    ("h-tan-phuoc", "Huyện Tân Phước", 13),
    ("h-chau-thanh", "Huyện Châu Thành", 22),
    ("h-cho-gao", "Huyện Chợ Gạo", 19),
    ("h-go-cong-tay", "Huyện Gò Công Tây", 13),
    ("h-go-cong-dong", "Huyện Gò Công Đông", 13),
    ("h-tan-phu-dong", "Huyện Tân Phú Đông", 6),
)

DEPARTMENTS: tuple[str, ...] = (
    "Văn phòng UBND tỉnh",
    "Văn phòng Đoàn ĐBQH và HĐND tỉnh",
    "Sở Nội vụ",
    "Sở Tư pháp",
    "Sở Kế hoạch và Đầu tư",
    "Sở Tài chính",
    "Sở Công Thương",
    "Sở Nông nghiệp và Phát triển nông thôn",
    "Sở Giao thông vận tải",
    "Sở Xây dựng",
    "Sở Tài nguyên và Môi trường",
    "Sở Thông tin và Truyền thông",
    "Sở Lao động - Thương binh và Xã hội",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Sở Khoa học và Công nghệ",
    "Sở Giáo dục và Đào tạo",
    "Sở Y tế",
    "Thanh tra tỉnh",
)

# Relative number of workstations per site, by type.
SITE_WEIGHTS = {"department": 60.0, "district": 50.0, "commune": 14.5}


def slugify(name: str) -> str:
    """ASCII slug of a Vietnamese name: 'Sở Y tế' -> 'so-y-te'."""
    text = name.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalnum() else " " for c in ascii_text.lower()).split()
    return "-".join(words)


def sites() -> tuple[Site, ...]:
    """All 201 sites: departments (in Mỹ Tho), district offices, then communes."""
    result = [Site(slugify(name), name, "tp-my-tho", "department") for name in DEPARTMENTS]
    for slug, name, _ in DISTRICTS:
        result.append(Site(f"ubnd-{slug}", f"UBND {name}", slug, "district"))
    for slug, name, communes in DISTRICTS:
        place = name.removeprefix("Thành phố ").removeprefix("Thị xã ").removeprefix("Huyện ")
        for number in range(1, communes + 1):
            result.append(Site(f"xa-{slug}-{number:02d}", f"Xã {number:02d} ({place})", slug, "commune"))
    return tuple(result)


def allocate(total: int, all_sites: tuple[Site, ...]) -> list[tuple[Site, int]]:
    """Spread ``total`` workstations over the sites by weight (largest remainder, deterministic)."""
    weights = [SITE_WEIGHTS[s.site_type] for s in all_sites]
    scale = total / sum(weights)
    shares = [w * scale for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return [(site, n) for site, n in zip(all_sites, counts, strict=True) if n > 0]
