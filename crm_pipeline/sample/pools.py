"""Realistic Chinese names, company names, addresses and FX rates for the sample dumps.

Every character is GB18030-encodable. Characters whose GB18030 bytes contain ``|`` (0x7C,
a legal trail byte) are left out of the pools: a reader that splits raw bytes before
decoding would otherwise see an extra field, and the sample must not test that by accident.
A few rare characters that take 4 bytes in GB18030 (U+3400 ``㐀``, U+20000 ``𠀀``) are used
on purpose, and some company names fill the 60-byte RTL name field exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "慕容")
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕彬斌鹏辉"
    "建国志红梅晓东海燕文婷俊宇浩然子涵欣怡佳琪思远嘉怡雨轩梓萱一鸣天佑晨曦"
)
RARE = ("\u3400", "\U00020000")  # 4 bytes each in GB18030

COMPANY_WORDS = (
    "恒达",
    "华鑫",
    "宏远",
    "金源",
    "永丰",
    "东升",
    "瑞祥",
    "鼎盛",
    "汇通",
    "新华",
    "长城",
    "海天",
    "锦程",
    "盛世",
    "天成",
    "万佳",
    "兴业",
    "广联",
    "明州",
    "钱塘",
)
COMPANY_TRADES = (
    "贸易",
    "进出口",
    "科技",
    "实业",
    "电子",
    "纺织",
    "服饰",
    "机械制造",
    "建材",
    "物流",
    "化工",
    "食品",
    "电器",
    "塑胶",
    "五金",
    "投资",
    "医疗器械",
    "印刷包装",
)
COMPANY_FORMS = ("有限公司", "有限责任公司", "股份有限公司")


@dataclass(frozen=True)
class Place:
    """A city of a branch: its name, region code (first 6 id digits), postcode, area code."""

    province: str
    city: str
    region: int
    postcode: str
    area: str
    districts: tuple[str, ...]
    streets: tuple[str, ...]


PLACES: dict[str, tuple[Place, ...]] = {
    "ZJ": (
        Place(
            "浙江省",
            "杭州市",
            330106,
            "310012",
            "0571",
            ("西湖区", "上城区", "拱墅区", "滨江区"),
            ("文三路", "天目山路", "延安路", "庆春路", "江南大道"),
        ),
        Place(
            "浙江省",
            "绍兴市",
            330602,
            "312000",
            "0575",
            ("越城区", "柯桥区"),
            ("解放北路", "胜利东路", "中兴中路"),
        ),
    ),
    "NB": (
        Place(
            "浙江省",
            "宁波市",
            330203,
            "315010",
            "0574",
            ("海曙区", "鄞州区", "江北区", "北仑区"),
            ("中山西路", "天童南路", "百丈东路", "钱湖北路"),
        ),
    ),
    "WZ": (
        Place(
            "浙江省",
            "温州市",
            330302,
            "325000",
            "0577",
            ("鹿城区", "龙湾区", "瓯海区"),
            ("人民东路", "车站大道", "飞霞南路"),
        ),
    ),
    "GD": (
        Place(
            "广东省",
            "广州市",
            440106,
            "510630",
            "020",
            ("天河区", "越秀区", "海珠区", "番禺区"),
            ("天河路", "中山五路", "环市东路", "江南大道中"),
        ),
        Place(
            "广东省",
            "佛山市",
            440604,
            "528000",
            "0757",
            ("禅城区", "南海区", "顺德区"),
            ("汾江中路", "季华五路", "桂城大道"),
        ),
    ),
    "SZ": (
        Place(
            "广东省",
            "深圳市",
            440304,
            "518000",
            "0755",
            ("福田区", "南山区", "罗湖区", "宝安区"),
            ("深南大道", "华强北路", "科技园路", "宝安大道"),
        ),
    ),
    "SD": (
        Place(
            "山东省",
            "济南市",
            370102,
            "250000",
            "0531",
            ("历下区", "市中区", "槐荫区"),
            ("泉城路", "经十路", "解放路"),
        ),
    ),
    "QD": (
        Place(
            "山东省",
            "青岛市",
            370202,
            "266000",
            "0532",
            ("市南区", "市北区", "崂山区"),
            ("香港中路", "山东路", "海尔路"),
        ),
    ),
    "JS": (
        Place(
            "江苏省",
            "南京市",
            320102,
            "210000",
            "025",
            ("玄武区", "鼓楼区", "秦淮区"),
            ("中山路", "北京东路", "汉中路"),
        ),
    ),
    "BJ": (
        Place(
            "北京市",
            "北京市",
            110105,
            "100020",
            "010",
            ("朝阳区", "海淀区", "东城区"),
            ("建国路", "中关村大街", "东长安街"),
        ),
    ),
}
DEFAULT_PLACES = PLACES["ZJ"]

# CNY per 100 units, near real board rates; the generator jitters them by seed.
BASE_RATES: dict[str, float] = {
    "USD": 712.35,
    "EUR": 772.10,
    "HKD": 91.52,
    "JPY": 4.7321,
    "GBP": 903.40,
    "AUD": 463.20,
    "CAD": 510.85,
    "CHF": 810.30,
    "SGD": 530.12,
    "NZD": 420.55,
    "KRW": 0.5127,
    "MOP": 88.90,
    "TWD": 22.10,
    "THB": 19.85,
    "RUB": 7.6543,
    "SEK": 66.20,
    "NOK": 65.40,
    "DKK": 103.50,
}


def _safe(text: str) -> bool:
    return b"|" not in text.encode("gb18030")


def places_of(branch: str) -> tuple[Place, ...]:
    return PLACES.get(branch, DEFAULT_PLACES)


def person_names(rng: np.random.Generator, size: int) -> npt.NDArray[np.str_]:
    """A pool of distinct-ish person names, a few with 4-byte GB18030 characters."""
    surnames = [c for c in SURNAMES if _safe(c)]
    given = [c for c in GIVEN if _safe(c)]
    s = rng.integers(0, len(surnames), size)
    g1 = rng.integers(0, len(given), size)
    g2 = rng.integers(0, len(given), size)
    two = rng.random(size) < 0.6
    names = [
        surnames[a] + given[b] + (given[c] if t else "")
        for a, b, c, t in zip(s, g1, g2, two, strict=True)
    ]
    for i in range(0, size, 97):
        names[i] = COMPOUND_SURNAMES[i % len(COMPOUND_SURNAMES)] + names[i][1:]
    for k, i in enumerate([5, 6, *range(216, size, 211)]):
        names[i] = names[i][0] + RARE[k % 2] + names[i][2:]
    return np.array(names)


def _fill_to(text: str, nbytes: int) -> str:
    """Lengthen a company name to exactly ``nbytes`` GB18030 bytes (the 60-byte field)."""
    filler = "国际贸易发展"
    i = 0
    while len(text.encode("gb18030")) < nbytes - 8:
        text = text[:-4] + filler[i % len(filler)] + text[-4:]
        i += 1
    while len(text.encode("gb18030")) < nbytes:
        text = text[:-4] + "华" + text[-4:]
    return text


def company_names(
    rng: np.random.Generator, size: int, places: tuple[Place, ...]
) -> npt.NDArray[np.str_]:
    """A pool of company names; every 53rd is stretched to fill 60 GB18030 bytes exactly."""
    names = []
    for i in range(size):
        place = places[int(rng.integers(len(places)))]
        word = COMPANY_WORDS[int(rng.integers(len(COMPANY_WORDS)))]
        trade = COMPANY_TRADES[int(rng.integers(len(COMPANY_TRADES)))]
        form = COMPANY_FORMS[int(rng.integers(len(COMPANY_FORMS)))]
        prefix = place.city if rng.random() < 0.7 else place.city + place.districts[0]
        name = f"{prefix}{word}{trade}{form}"
        if i % 53 == 7:
            name = _fill_to(name, 60)
        names.append(name)
    return np.array(names)


def addresses(
    rng: np.random.Generator, size: int, places: tuple[Place, ...]
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.str_]]:
    """A pool of street addresses (at most 80 GB18030 bytes) and their postcodes."""
    out, codes = [], []
    for _ in range(size):
        p = places[int(rng.integers(len(places)))]
        district = p.districts[int(rng.integers(len(p.districts)))]
        street = p.streets[int(rng.integers(len(p.streets)))]
        number = int(rng.integers(1, 999))
        tail = ""
        if rng.random() < 0.7:
            tail = f"{int(rng.integers(1, 30))}幢{int(rng.integers(1, 3000))}室"
        out.append(f"{p.province}{p.city}{district}{street}{number}号{tail}")
        codes.append(p.postcode)
    return np.array(out), np.array(codes)
