"""The words of a sample dataset: an item's shop title and a clip's transcript, in Chinese.

A title is built from the garment's attributes as a shop writes them (colour, pattern with its
scale and direction, cut, details, material, category) among a shop's filler words, run together
or spaced. A transcript is what a presenter says: the sold item's attributes said loosely and with
synonyms (裙子 for 连衣裙, 条条的 for 条纹), among greetings, prices and the other garments on the
rail; in some clips nothing useful at all. Near twins differ in a word or two (the cut, the print's
scale or direction, a detail). Neither ever names the item id. Words come from their own random
streams, so the pictures of a seed are the same with or without them.
"""

from __future__ import annotations

import numpy as np

from livematch.sampledata.garments import GarmentSpec

# PALETTE's colours, in its order: (the shop's word, what a presenter may say)
COLOURS = (
    ("红色", ("红色", "大红", "红的")),
    ("黄色", ("黄色", "鹅黄", "黄的")),
    ("藏蓝", ("藏蓝", "深蓝", "蓝色")),
    ("黑色", ("黑色", "纯黑", "黑的")),
    ("白色", ("白色", "奶白", "白的")),
    ("绿色", ("绿色", "草绿", "绿的")),
    ("粉色", ("粉色", "粉粉的", "浅粉")),
    ("咖啡色", ("咖啡色", "棕色", "咖色")),
    ("天蓝", ("天蓝", "浅蓝", "蓝蓝的")),
    ("紫色", ("紫色", "浅紫", "紫的")),
    ("橙色", ("橙色", "橘色", "橙的")),
    ("灰色", ("灰色", "浅灰", "灰的")),
)
PATTERNS = {
    "stripes": ("条纹", ("条纹", "条条的", "条纹款")),
    "checks": ("格子", ("格子", "格纹", "小格子")),
    "dots": ("波点", ("波点", "圆点", "点点的")),
    "chevron": ("波浪纹", ("波浪纹", "人字纹", "波浪")),
    "blocks": ("拼色", ("拼色", "撞色", "拼接")),
    "motif": ("印花", ("印花", "小花", "花花的")),
    "knit": ("针织", ("针织", "毛织", "织纹")),
    "print": ("图案", ("图案", "花纹", "图案款")),
    "photo": ("数码印花", ("数码印花", "印花", "大印花")),
}
# CATEGORIES' labels: what a presenter may call the garment
CALLED = {
    "短袖上衣": ("短袖", "短袖T恤", "上衣"),
    "长袖上衣": ("长袖", "长袖T恤", "上衣"),
    "背心上衣": ("背心", "吊带", "上衣"),
    "短袖连衣裙": ("短袖裙子", "连衣裙", "裙子"),
    "长袖连衣裙": ("长袖裙子", "连衣裙", "裙子"),
    "无袖连衣裙": ("无袖裙子", "连衣裙", "背心裙"),
    "短裙": ("小短裙", "半裙", "短裙"),
    "长半身裙": ("半身裙", "长裙", "半裙"),
    "短裤": ("短裤", "裤子", "热裤"),
    "长裤": ("长裤", "裤子", "阔腿裤"),
    "长外套": ("长外套", "大衣", "外套"),
    "短外套": ("短外套", "夹克", "外套"),
}
DETAILS = {"collar": "翻领", "belt": "系带", "pocket": "口袋", "hem": "荷叶边"}
MATERIALS = (
    ("纯棉", "棉的"),
    ("雪纺", "雪纺的"),
    ("真丝", "丝滑"),
    ("亚麻", "麻的"),
    ("牛仔", "牛仔"),
)
FILLER = (
    "2026新款",
    "韩版",
    "百搭",
    "显瘦",
    "女装",
    "春夏",
    "网红同款",
    "爆款",
    "时尚",
    "气质",
    "ins风",
)
GREETINGS = (
    "家人们晚上好",
    "欢迎来到直播间",
    "新进来的宝宝点点关注",
    "喜欢的扣1",
    "库存不多了",
    "主播身高一米六五",
    "三二一上链接",
    "拍下备注尺码",
)


def _scale_words(spec: GarmentSpec) -> list[str]:
    """The print's scale and direction as a shop names them (stripes, checks, chevrons)."""
    if spec.pattern not in ("stripes", "checks", "chevron"):
        return []
    scale = "细" if spec.period < 0.11 else "宽" if spec.period > 0.15 else ""
    direction = {0.0: "横", 90.0: "竖"}.get(float(spec.angle) % 180, "斜")
    return [scale + direction]


def _cut_words(spec: GarmentSpec) -> list[str]:
    """The cut (A-line, slim or loose) and the details (collar, belt, pocket, frill)."""
    cut = "A字" if spec.flare > 0.08 else "修身" if spec.width < 0.23 else "宽松"
    return [cut] + [DETAILS[e] for e in spec.extras]


def _material(spec: GarmentSpec) -> tuple[str, str]:
    """The fabric, fixed by the print (a twin on another cut keeps it)."""
    return MATERIALS[spec.motif_seed % len(MATERIALS)]


def attributes(spec: GarmentSpec) -> list[str]:
    """The garment's attributes in a shop's words: colours, print, scale, cut, material,
    category."""
    colours = "".join(COLOURS[c][0] for c in spec.colors[:2])
    return [
        colours,
        *_scale_words(spec),
        PATTERNS[spec.pattern][0],
        *_cut_words(spec),
        _material(spec)[0],
        spec.label,
    ]


def title(specs: list[GarmentSpec], rng: np.random.Generator) -> str:
    """A shop title for an item of ``specs`` (a two-piece set names both): filler words, then
    each piece's attributes, run together or spaced."""
    words = [str(w) for w in rng.choice(FILLER, 2, replace=False)]
    for k, spec in enumerate(specs):
        words += (["套装"] if k else []) + attributes(spec)
    words.append(str(rng.choice(FILLER)))
    joints = rng.random(len(words) - 1) < 0.4
    return words[0] + "".join((" " if j else "") + w for j, w in zip(joints, words[1:]))


def _with_de(word: str) -> str:
    """``word`` as an attribute before a noun: 红色 -> 红色的, 红的 stays."""
    return word if word.endswith("的") else word + "的"


def said(spec: GarmentSpec, rng: np.random.Generator) -> str:
    """The garment as a presenter says it: some attributes left out, synonyms for the rest."""
    spoken = [
        _with_de(str(rng.choice(COLOURS[spec.colors[0]][1]))),
        *(_scale_words(spec) if rng.random() < 0.5 else []),
        str(rng.choice(PATTERNS[spec.pattern][1])),
        *([str(rng.choice(_cut_words(spec)))] if rng.random() < 0.6 else []),
        *([_material(spec)[1]] if rng.random() < 0.4 else []),
        str(rng.choice(CALLED[spec.label])),
    ]
    keep = rng.random(len(spoken)) < 0.8
    keep[-1] = True  # the garment is always named
    return "".join(w for w, k in zip(spoken, keep) if k)


def transcript(
    sold: list[GarmentSpec] | None,
    rail: list[GarmentSpec],
    rng: np.random.Generator,
    silent: float = 0.15,
) -> str:
    """What the presenter says in a clip selling ``sold`` (``None``: nothing) with ``rail``
    beside it: greetings, the sold garment said loosely, a price, now and then another garment on
    the rail; with probability ``silent`` nothing about any garment."""
    parts = [str(g) for g in rng.choice(GREETINGS, 2, replace=False)]
    if sold and rng.random() >= silent:
        parts.append("今天这款" + said(sold[0], rng))
        parts.append(f"只要{int(rng.integers(39, 400))}元")
        if len(sold) > 1 and rng.random() < 0.5:
            parts.append("配套的" + said(sold[1], rng))
    else:
        parts.append(f"福利价{int(rng.integers(19, 200))}元")
    if rail and rng.random() < 0.4:
        parts.append("后面还有" + said(rail[int(rng.integers(len(rail)))], rng) + "也可以看看")
    parts.append(str(rng.choice(GREETINGS)))
    return " ".join(parts)
