"""The one message table: every diagnostic, hint and UI string in Chinese and English.

Each diagnostic code has a severity and a template per language; templates use
``str.format`` fields filled from the diagnostic's ``params`` (missing fields are shown as
``?``, so a message never fails to render). ``tests/test_messages.py`` checks that every
code has both languages and that both use the same fields.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Final, Literal

Lang = Literal["zh", "en"]

# code -> (severity, en, zh)
MESSAGES: Final[dict[str, tuple[str, str, str]]] = {
    # --- reading rule files (PR1xx) -------------------------------------------------------
    "PR100": ("error", "{language} syntax error: {detail}", "{language} 语法错误：{detail_zh}"),
    "PR101": ("error", "unknown key '{key}' in {table}", "{table} 中有未知的键“{key}”"),
    "PR102": (
        "error",
        "{key}: expected {expected}, got {got}",
        "{key}：应为{expected_zh}，实际为 {got}",
    ),
    "PR103": ("error", "{table}: required key '{key}' is missing", "{table}：缺少必填的键“{key}”"),
    "PR104": (
        "error",
        "id '{id}' is declared twice (as {first} and as {second})",
        "编号“{id}”重复定义（{first} 与 {second}）",
    ),
    "PR105": ("error", "cannot read {file}: {reason}", "无法读取 {file}：{reason}"),
    "PR106": (
        "error",
        "{file} is {size} bytes; rule and facts files are limited to {limit} bytes",
        "{file} 大小为 {size} 字节，规则文件和事实文件不得超过 {limit} 字节",
    ),
    "PR107": ("error", "{key}: {detail}", "{key}：{detail_zh}"),
    "PR108": (
        "error",
        "{file} is not valid UTF-8 (byte {byte} at offset {position})",
        "{file} 不是有效的 UTF-8 编码（第 {position} 字节处的 {byte}）",
    ),
    "PR109": (
        "error",
        "'{key}' must be a table (section), got {got}",
        "“{key}”应为表（节），实际为 {got}",
    ),
    # --- structure: tree, weights, bands, scales (PR2xx) ---------------------------------
    "PR201": (
        "error",
        "weights under '{parent}' add up to {sum}, but '{parent}' has weight {weight} ({parts})",
        "“{parent}”下各项权重合计为 {sum}，而“{parent}”的权重为 {weight}（{parts}）",
    ),
    "PR202": (
        "error",
        "top-level weights add up to {sum}, but the scheme's max is {max} ({parts})",
        "一级指标权重合计为 {sum}，而方案满分为 {max}（{parts}）",
    ),
    "PR203": (
        "error",
        "'{id}' names parent '{parent}', which is not a declared group",
        "“{id}”的上级“{parent}”不是已定义的分组",
    ),
    "PR204": (
        "error",
        "groups form a cycle: {cycle}",
        "分组之间形成循环：{cycle}",
    ),
    "PR207": (
        "error",
        "group '{id}' lies {depth} levels deep; the limit is {limit}",
        "分组“{id}”位于第 {depth} 层，超过上限 {limit} 层",
    ),
    "PR205": (
        "error",
        "group '{id}' has no indicators under it",
        "分组“{id}”下没有任何指标",
    ),
    "PR206": ("error", "the scheme declares no indicators", "方案中没有定义任何指标"),
    "PR210": (
        "error",
        "grade bands leave [{low}, {high}) uncovered (between '{below}' and '{above}')",
        "等级区间 [{low}, {high}) 未被覆盖（位于“{below}”与“{above}”之间）",
    ),
    "PR211": (
        "error",
        "grade bands '{first}' and '{second}' overlap on [{low}, {high})",
        "等级“{first}”与“{second}”在 [{low}, {high}) 上重叠",
    ),
    "PR212": (
        "error",
        "grade bands must be listed from the highest to the lowest; '{label}' is out of order",
        "等级应按从高到低的顺序列出；“{label}”的位置不对",
    ),
    "PR213": (
        "error",
        "grade bands do not cover [0, {max}]: {detail}",
        "等级区间没有覆盖 [0, {max}]：{detail_zh}",
    ),
    "PR214": (
        "error",
        "grade band '{label}' is empty: min {min} is not below max {max}",
        "等级“{label}”为空区间：下限 {min} 不小于上限 {max}",
    ),
    "PR216": (
        "error",
        "grade band label '{label}' is used twice",
        "等级名称“{label}”重复",
    ),
    "PR220": (
        "error",
        "input '{input}' uses scale '{scale}', which is not declared",
        "输入项“{input}”使用的定性等级表“{scale}”未定义",
    ),
    "PR221": (
        "error",
        "scale '{scale}': level '{level}' has min {min} above max {max} or outside [0, 1]",
        "定性等级表“{scale}”：档次“{level}”的下限 {min} 高于上限 {max}，或超出 [0, 1]",
    ),
    "PR222": (
        "error",
        "scale '{scale}': default share {default} of level '{level}' lies outside [{min}, {max}]",
        "定性等级表“{scale}”：档次“{level}”的默认比例 {default} 不在 [{min}, {max}] 内",
    ),
    "PR224": (
        "error",
        "remove names {section} '{id}', which the extended scheme does not have",
        "remove 中列出的{section_zh}“{id}”在被继承的方案中不存在",
    ),
    "PR225": (
        "error",
        "extends goes round in a circle or too deep: {chain}",
        "extends 形成循环或层数过多：{chain}",
    ),
    "PR226": (
        "error",
        "remove only makes sense in a scheme that extends another",
        "只有继承其他方案（extends）时才能使用 remove",
    ),
    "PR227": (
        "warning",
        "levels names {named} level(s), but the indicator tree is {depth} deep",
        "levels 列出了 {named} 层标题，而指标树有 {depth} 层",
    ),
    "PR223": (
        "warning",
        "weight of '{id}' is 0: it can never score a point",
        "“{id}”的权重为 0，无法得分",
    ),
    "PR236": (
        "warning",
        (
            "'{id}': the target shown, \"{text}\", says {numbers}, but the formula reads "
            "{param} = {value}"
        ),
        "“{id}”：显示的目标值“{text}”写的是 {numbers}，而公式读取的是 {param} = {value}",
    ),
    "PR240": (
        "error",
        "'{id}' divides by {name}, which is 0 here: no unit can be scored",
        "“{id}”以 {name} 为除数，而此处它为 0：任何单位都无法计分",
    ),
    "PR241": (
        "warning",
        (
            "'{id}' divides by {name}, whose value in params is 0: a unit that does not "
            "give its own {name} cannot be scored"
        ),
        "“{id}”以 {name} 为除数，而 params 中它的值为 0：未自行填报 {name} 的单位无法计分",
    ),
    "PR239": (
        "error",
        (
            "'{id}': the target \"{text}\" has a comma inside its number: a comma separates "
            "thousands (1,200), a decimal point is '.'"
        ),
        "“{id}”：目标值“{text}”的数字中有逗号：逗号只用于千位分隔（如 1,200），小数点请用“.”",
    ),
    "PR230": (
        "error",
        (
            "cohort value '{name}' is taken over '{of}', which is not a number input, a "
            "group, an indicator or total"
        ),
        "群体值“{name}”取自“{of}”，但它不是数值型输入项、分组、指标或 total（总分）",
    ),
    "PR231": (
        "error",
        "cohort value '{name}': {detail}",
        "群体值“{name}”：{detail_zh}",
    ),
    "PR250": (
        "error",
        "indicator '{id}' reads a score that needs its own score: {circle}",
        "指标“{id}”读取的得分又取决于它自己的得分：{circle}",
    ),
    "PR232": (
        "error",
        "ranking key '{by}' is not total, a group or indicator id, or a number input",
        "排名依据“{by}”既不是 total，也不是分组或指标编号，也不是数值型输入项",
    ),
    "PR233": (
        "error",
        "'{id}' is the name of both {first} and {second}",
        "“{id}”同时是{first_zh}和{second_zh}的名称",
    ),
    "PR234": (
        "error",
        "the scheme takes values over a cohort ({names}): list the case's units (units = [...])",
        "本方案的群体值（{names}）取自一组对象：请用 units = [...] 列出本用例的各个对象",
    ),
    # --- expressions and formulas (PR3xx) ------------------------------------------------
    "PR301": ("error", "formula syntax error: {detail}", "公式语法错误：{detail_zh}"),
    "PR302": ("error", "unknown name '{name}'", "未知的名称“{name}”"),
    "PR303": ("error", "unknown function '{name}'", "未知的函数“{name}”"),
    "PR304": (
        "error",
        "{name}() takes {expected} argument(s), got {got}",
        "函数 {name}() 需要 {expected} 个参数，实际给了 {got} 个",
    ),
    "PR305": (
        "error",
        "named formulas refer to each other in a cycle: {cycle}",
        "命名公式之间循环引用：{cycle}",
    ),
    "PR306": (
        "error",
        "{construct} is not allowed in a formula",
        "公式中不允许使用{construct_zh}",
    ),
    "PR307": (
        "error",
        "type error: {detail}",
        "类型错误：{detail_zh}",
    ),
    "PR308": (
        "error",
        "character {char} (U+{codepoint}) is not allowed in a formula",
        "公式中不允许出现字符 {char}（U+{codepoint}）",
    ),
    "PR309": (
        "error",
        "name '{name}' mixes look-alike letters from different alphabets or is not normalised",
        "名称“{name}”混用了外形相近的不同文字字母，或不是规范形式",
    ),
    "PR310": (
        "error",
        "formula is {length} characters long; the limit is {limit}",
        "公式长度为 {length} 个字符，超过上限 {limit}",
    ),
    "PR311": (
        "error",
        "formula is nested too deeply (limit {limit})",
        "公式嵌套层数过多（上限 {limit}）",
    ),
    "PR312": (
        "error",
        "formula has {count} parts; the limit is {limit}",
        "公式包含 {count} 个部分，超过上限 {limit}",
    ),
    "PR313": (
        "error",
        "number {literal} is out of range: {detail}",
        "数字 {literal} 超出范围：{detail_zh}",
    ),
    "PR314": (
        "error",
        "power {detail}",
        "乘方{detail_zh}",
    ),
    "PR315": (
        "error",
        "an intermediate number grew past {limit} bits",
        "中间结果超过 {limit} 位",
    ),
    "PR316": (
        "error",
        "division by zero: '{expr}' is 0",
        "除数为零：“{expr}”的值为 0",
    ),
    "PR317": (
        "error",
        "bad argument to {name}(): {detail}",
        "函数 {name}() 的参数有误：{detail_zh}",
    ),
    "PR318": (
        "error",
        "lookup(): {value} lies in none of the given intervals",
        "lookup()：{value} 不在任何给定区间内",
    ),
    "PR319": (
        "error",
        "name '{name}' is reserved",
        "名称“{name}”是保留字",
    ),
    "PR320": (
        "error",
        "value of '{name}' cannot be used: {detail}",
        "“{name}”的值无法使用：{detail_zh}",
    ),
    "PR321": (
        "error",
        "formula must give a number, but gives {got}",
        "公式应得出数值，实际得出{got_zh}",
    ),
    "PR322": ("error", "formula is empty", "公式为空"),
    "PR324": (
        "error",
        "{expr} has no exact value: give the score a rounding (places) to compute it to",
        "{expr} 没有精确值：请为得分指定保留的小数位数（places），按其计算",
    ),
    "PR325": (
        "error",
        (
            "the rounding of this value is not decided at {digits} significant digits, the "
            "most it is computed to: it lies within 10^-{digits} of a rounding boundary, or "
            "is exactly a number the bounds cannot see"
        ),
        (
            "计算到 {digits} 位有效数字（对该值计算的上限）仍无法确定其舍入结果：它距舍入分界"
            "不到 10^-{digits}，或恰好等于某个区间估计无法识别的数"
        ),
    ),
    "PR323": (
        "error",
        "named formula '{name}' has errors (see its definition)",
        "命名公式“{name}”有错误（见其定义处）",
    ),
    # --- facts (PR4xx) --------------------------------------------------------------------
    "PR401": (
        "error",
        "indicator '{indicator}' needs fact '{fact}', which is missing",
        "指标“{indicator}”需要的事实“{fact}”缺失",
    ),
    "PR402": (
        "error",
        "cannot read {value} as {expected}",
        "无法将 {value} 读作{expected_zh}",
    ),
    "PR403": (
        "error",
        "facts name indicator '{indicator}', which the scheme does not have",
        "事实中出现了方案里没有的指标“{indicator}”",
    ),
    "PR404": (
        "error",
        "fact '{fact}' is not an input of indicator '{indicator}'",
        "事实“{fact}”不是指标“{indicator}”的输入项",
    ),
    "PR405": (
        "error",
        "'{value}' is not a level of scale '{scale}' (levels: {levels})",
        "“{value}”不是定性等级表“{scale}”中的档次（可选：{levels}）",
    ),
    "PR406": (
        "error",
        "share {share} lies outside level '{level}' [{min}, {max}]",
        "比例 {share} 不在档次“{level}”的区间 [{min}, {max}] 内",
    ),
    "PR407": (
        "error",
        "override of '{indicator}' needs a reason",
        "指标“{indicator}”的人工调整需要说明理由",
    ),
    "PR408": (
        "error",
        "override score {score} of '{indicator}' lies outside [0, {weight}]",
        "指标“{indicator}”的人工调整得分 {score} 不在 [0, {weight}] 内",
    ),
    "PR409": (
        "error",
        "{value} is a binary floating-point number; give it as a string or Decimal",
        "{value} 是二进制浮点数；请以字符串或 Decimal 给出",
    ),
    "PR410": (
        "error",
        "facts must be a table of indicator ids, got {got}",
        "事实应为以指标编号为键的表，实际为 {got}",
    ),
    "PR411": (
        "error",
        "indicator '{indicator}' is marked not applicable, which its policy forbids",
        "指标“{indicator}”被标为不适用，但其规则不允许",
    ),
    "PR412": (
        "error",
        "the report publishes nothing to audit: no total, grade or row scores",
        "报告中没有可核对的公布结果：没有总分、等级或各项得分",
    ),
    "PR413": (
        "error",
        "this scheme takes {names} over all units scored together: score it with its cohort",
        "本方案的 {names} 取自一同评分的全部对象，请与同组对象一起评分",
    ),
    "PR414": (
        "error",
        "'{fact}' is a cohort value, taken over all units; a unit's facts cannot give it",
        "“{fact}”是群体值，由全部对象计算得出，不能在单个对象的事实中给出",
    ),
    "PR415": (
        "error",
        "cohort value '{name}' has no unit to be taken over {among}",
        "{among_zh}没有可用于计算群体值“{name}”的对象",
    ),
    "PR416": (
        "error",
        "units are put in cohorts by shared fact '{fact}', which is missing",
        "对象按共享事实“{fact}”分组，但该事实缺失",
    ),
    "PR417": (
        "error",
        "a row has {got} cells where the header has {expected}: {text}",
        "一行有 {got} 个单元格，而表头有 {expected} 列：{text}",
    ),
    "PR418": (
        "error",
        "{what} is over its limit of {limit}: {detail}",
        "{what_zh}超过上限 {limit}：{detail}",
    ),
    "PR419": (
        "error",
        "column '{column}' cannot hold facts: {reason}",
        "列“{column}”不能存放事实：{reason}",
    ),
    "PR420": (
        "error",
        "the header names {names} more than once: each column must have its own name",
        "表头中 {names} 出现了不止一次：每一列必须有自己的名称",
    ),
    "PR421": (
        "error",
        "facts give shared fact '{name}', which nothing in the scheme reads",
        "事实中给出了共享事实“{name}”，但方案中没有任何地方读取它",
    ),
    "PR245": (
        "error",
        "input '{input}' is imputed, but it is a {type}: only a number input can be imputed",
        "输入项“{input}”声明了插补，但它是{type_zh}：只有数值型输入项可以插补",
    ),
    "PR246": (
        "error",
        "input '{input}': {detail}",
        "输入项“{input}”：{detail_zh}",
    ),
    "PR247": (
        "error",
        "min_available must be a share above 0 and at most 1 (75% is 0.75), not {value}",
        "min_available 应为大于 0、不超过 1 的比例（75% 写作 0.75），而不是 {value}",
    ),
    "PR260": (
        "error",
        "input '{name}' cannot be normalised so: {detail}",
        "输入项“{name}”不能如此标准化：{detail_zh}",
    ),
    "PR261": (
        "error",
        "group '{name}' cannot be normalised so: {detail}",
        "分组“{name}”不能如此标准化：{detail_zh}",
    ),
    "PR428": (
        "error",
        "'{name}' cannot be normalised by {method} {among}: {detail}",
        "{among_zh}“{name}”无法按 {method} 标准化：{detail_zh}",
    ),
    "PR429": (
        "error",
        (
            "'{fact}' is normalised across the cohort: give it as a shared fact "
            "(shared.{fact}), not in one indicator's facts"
        ),
        "“{fact}”按群体标准化：请作为共享事实给出（shared.{fact}），而不是写在某个指标的事实中",
    ),
    "PR238": (
        "error",
        (
            "group '{group}' aggregates geometrically, whose value is irrational, but it is "
            "not rounded: give it places (0-10)"
        ),
        "分组“{group}”按几何平均汇总，其值为无理数，但未舍入：请指定保留位数 places（0-10）",
    ),
    "PR237": (
        "error",
        (
            "'{indicator}' computes {calls}, whose value is irrational, but its score is not "
            "rounded: give it places (0-10) so that it can be computed to the digits they need"
        ),
        (
            "“{indicator}”计算 {calls}，其值为无理数，但得分不舍入：请指定保留位数 places"
            "（0-10），以便按所需位数计算"
        ),
    ),
    "PR235": (
        "error",
        (
            "the explanation of one unit could reach {size} characters, over the limit of "
            "{limit} ('{indicator}' alone up to {one}): numbers of thousands of digits, or long "
            "formulas repeated in many rows"
        ),
        (
            "单个单位的计算过程最多可达 {size} 个字符，超过 {limit} 的上限（“{indicator}”一项即"
            "可达 {one} 个）：公式中的数可能有数千位，或较长的公式在许多行中重复"
        ),
    ),
    # --- evaluation (PR5xx) ---------------------------------------------------------------
    "PR501": (
        "error",
        "'{indicator}' scored {score}, outside [0, {weight}]",
        "指标“{indicator}”得分 {score} 超出 [0, {weight}]",
    ),
    "PR502": (
        "error",
        "every indicator is excluded as not applicable; nothing to score",
        "所有指标都因不适用而被排除，无法计分",
    ),
    "PR503": (
        "error",
        "total {total} lies in no grade band",
        "总分 {total} 不在任何等级区间内",
    ),
    "PR504": (
        "error",
        "the trace would be over {limit} characters ('{indicator}' writes {size}): huge numbers",
        "计算过程将超过 {limit} 个字符（“{indicator}”一项即 {size} 个）：其中的数有数千位",
    ),
}

HINTS: Final[dict[str, tuple[str, str]]] = {
    "did_you_mean": ("did you mean '{suggestion}'?", "是否应为“{suggestion}”？"),
    "divisor_zero": (
        "the formula of '{id}' divides by it: {formula}; give {name} a value other than 0",
        "“{id}”的公式以它为除数：{formula}；请给 {name} 一个非 0 的值",
    ),
    "divides_by_param": (
        (
            "'{param}' is 0 in the rule file's params of '{indicator}' (the formula "
            "{formula}): give the unit its own {param}, or correct params"
        ),
        (
            "规则文件中“{indicator}”的 params 把 {param} 设为 0（公式 {formula}）："
            "请为该单位填报 {param}，或修改 params"
        ),
    ),
    "divides_by_fact": (
        "the formula of '{indicator}' divides by it: {formula}",
        "“{indicator}”的公式以它为除数：{formula}",
    ),
    "removed_row": (
        (
            "'{removed}' is removed here: in this file, give '{parent}' the weight its rows "
            "now add up to ({sum}), or another of its rows more weight"
        ),
        (
            "此处删除了“{removed}”：请在本文件中把“{parent}”的权重改为其下各项之和（{sum}），"
            "或给其下其他项增加权重"
        ),
    ),
    "removed_parent": (
        (
            "'{parent}' is removed here, but '{id}' is still under it: in this file, remove "
            "'{id}' too, or give it another parent"
        ),
        "此处删除了“{parent}”，但“{id}”仍在它下面：请在本文件中一并删除“{id}”，或给它另一个上级",
    ),
    "removed_last_rows": (
        "every row under '{id}' is removed: in this file, remove '{id}' too",
        "“{id}”下的各项都已删除：请在本文件中一并删除“{id}”",
    ),
    "removed_top_row": (
        (
            "'{removed}' is removed here: in this file, give another row more weight, or set "
            "[scheme] max and the bands to what the rows now add up to ({sum})"
        ),
        (
            "此处删除了“{removed}”：请在本文件中给其他项增加权重，"
            "或把 [scheme] max 和等级区间改为各项之和（{sum}）"
        ),
    ),
    "belongs_in": (
        "'{key}' is a key of {owner}, not of this table",
        "“{key}”是 {owner} 的键，不属于此表",
    ),
    "ascii_char": ("type '{ascii}' instead", "请改用半角字符“{ascii}”"),
    "unquote": (
        "write the number without quotes: {name} = {number}",
        "数字不加引号：{name} = {number}",
    ),
    "toml_quote_key": (
        "a key in Chinese is written in quotes: {written}",
        "中文键名须加英文引号：{written}",
    ),
    "eq_not_assign": ("to compare, write '=='", "比较相等请写“==”"),
    "empty_rule_file": (
        (
            "the file is empty: a rule file starts with [scheme] (id, title), then its "
            "[indicators] (perfrules new-pack writes one to start from)"
        ),
        (
            "文件是空的：规则文件以 [scheme]（id、title）开头，再写各项 [indicators]"
            "（可用 perfrules new-pack 生成一个起步）"
        ),
    ),
    "cap_with_min": (
        "cap it with min(..., weight) or set clamp = true",
        "可用 min(..., weight) 封顶，或设置 clamp = true",
    ),
    "floor_with_max": (
        "keep it from going below 0 with max(..., 0), check the facts, or set clamp = true",
        "可用 max(..., 0) 保证不小于 0，或检查所填数据，或设置 clamp = true",
    ),
    "add_reason": ('add reason = "..."', '请补充 reason = "..."'),
    "rename": ("use another name", "请换一个名称"),
    "extends_root": (
        (
            "extends reads files in this rule file's folder (or below it) and rule packs by "
            "id (perfrules packs lists them); to extend a file elsewhere, name a wider folder "
            "with --root DIR (root= in Python)"
        ),
        (
            "extends 只读取本规则文件所在文件夹（及其子文件夹）中的文件，以及按编号引用的规则包"
            "（perfrules packs 可列出）；要继承其他位置的文件，请用 --root 目录（Python 中为 "
            "root=）指定更大的文件夹"
        ),
    ),
    "no_such_pack": (
        "no file has this name, and no installed rule pack this id (perfrules packs lists them)",
        "没有此名称的文件，也没有此编号的已安装规则包（perfrules packs 可列出）",
    ),
    "target_text": (
        (
            "change params.{param} or the text; or derive the text from the number: "
            'target_text = "={{{param}}}..."'
        ),
        '请修改 params.{param} 或目标值文本；或由数值生成文本：target_text = "={{{param}}}..."',
    ),
    "extends_upload": (
        (
            "a rule file given as text may extend installed rule packs only (perfrules packs "
            "lists them); to let it read files, pass root= a folder"
        ),
        (
            "以文本形式提交的规则文件只能继承已安装的规则包（perfrules packs 可列出）；"
            "要允许读取文件，请用 root= 指定文件夹"
        ),
    ),
    "counted_false": (
        "a row the form shows but does not add up: give it its weight and counted = false",
        "表上列示但不计入总分的行：写明其分值，并设 counted = false",
    ),
    "batch_frame": (
        "a batch of any size is read in chunks with: pip install 'perfrules[frame]'",
        "安装 pip install 'perfrules[frame]' 后可分块读取任意大小的批量文件",
    ),
    "score_together": (
        "score the units together: evaluate_cohort(units), or perfrules score SCHEME units.csv",
        "请一起评分：CompiledScheme.evaluate_cohort(units)，或 perfrules score 方案 units.csv",
    ),
    "percent": ("write 5% as 0.05", "百分数请写成小数，如 5% 写作 0.05"),
    "number_range": (
        "numbers are limited to magnitudes below 10^30",
        "数字的绝对值须小于 10^30",
    ),
    "number_digits": (
        "a number has at most 30 significant digits and at most 30 decimal places",
        "数字最多 30 位有效数字、30 位小数",
    ),
    "number_places": ("a number has at most 30 decimal places", "数字最多 30 位小数"),
    "number_zero": ("the fraction divides by 0", "分数的分母为 0"),
    "number_nonfinite": (
        "NaN and infinity are not a number a score can use",
        "NaN 与无穷大不是可用于计分的数字",
    ),
    "number_type": (
        "give an int, Decimal, Fraction or text, not {got}",
        "请给出 int、Decimal、Fraction 或文本，而不是 {got}",
    ),
    "decimal_string": (
        (
            'e.g. "0.8" or Decimal("0.8"); a JSON body read with json.loads has floats: '
            'read it with perfrules.loads_facts(text, format="json")'
        ),
        (
            '例如 "0.8" 或 Decimal("0.8")；用 json.loads 读取的 JSON 含浮点数：'
            '请改用 perfrules.loads_facts(text, format="json") 读取'
        ),
    ),
}

#: A cohort statistic's name (a rule file's ``stat``) in Chinese, as reports and messages say it.
STATISTICS_ZH: Final[dict[str, str]] = {
    "min": "最小值",
    "max": "最大值",
    "mean": "平均值",
    "median": "中位数",
    "sum": "合计",
    "count": "个数",
    "percentile": "百分位数",
}

UI: Final[dict[str, tuple[str, str]]] = {
    # perfrules test: a case that failed, and why (prefix: "UNIT: " in a cohort case, or "")
    "case.failed": ("FAIL", "失败"),
    "case.heading": (" {file}:{line}: case '{name}'", " {file}:{line}：用例“{name}”"),
    "case.summary": (
        "cases: {passed} passed, {failed} failed",
        "用例：{passed} 个通过，{failed} 个失败",
    ),
    "cli.exists": (
        "{path} exists; use --force to overwrite it",
        "{path} 已存在；要覆盖它请加 --force",
    ),
    # click's own usage errors, said in Chinese under --lang zh (English: click's own words)
    "usage.usage": ("Usage:", "用法："),
    "usage.try": ("Try '{command} {option}' for help.", "运行“{command} {option}”查看帮助。"),
    "usage.error": ("Error: {message}", "错误：{message}"),
    "usage.missing_argument": ("Missing argument {name}.", "缺少参数 {name}。"),
    "usage.missing_option": ("Missing option {name}.", "缺少选项 {name}。"),
    "usage.no_such_option": ("No such option: {name}", "没有这个选项：{name}。"),
    "usage.did_you_mean": ("Did you mean {names}?", "是不是要写 {names}？"),
    "usage.possible": ("(Possible options: {names})", "可能是：{names}。"),
    "usage.no_such_command": ("No such command {name}.", "没有这个命令：{name}。"),
    "usage.needs_value": (
        "Option {name} requires an argument.",
        "选项 {name} 后面要写一个值。",
    ),
    "usage.extra_arguments": (
        "Got unexpected extra arguments ({words})",
        "多余的参数：{words}（这个命令不接受）。",
    ),
    "usage.invalid_value": ("Invalid value for {name}: {message}", "{name} 的值无效：{message}"),
    "usage.missing_command": ("Missing command.", "缺少命令。"),
    "usage.not_an_integer": ("{value} is not a valid integer.", "{value} 不是整数。"),
    "usage.not_a_number": ("{value} is not a valid float.", "{value} 不是数。"),
    "usage.out_of_range": (
        "{value} is not in the range {range}.",
        "{value} 不在范围 {range} 内。",
    ),
    "usage.not_a_choice": (
        "{value} is not one of {choices}.",
        "{value} 不是可选的值，可选：{choices}。",
    ),
    "cli.no_unit": (
        "no unit '{unit}' in {file} ({shown})",
        "{file} 中没有单位“{unit}”（有：{shown}）",
    ),
    "cli.stdin_one_unit": (
        (
            "standard input gives one unit's facts (TOML or JSON); give many units (a CSV, "
            "XLSX or Parquet file, a folder) by their path"
        ),
        (
            "标准输入只能给出一个单位的事实（TOML 或 JSON）；"
            "多个单位（CSV、XLSX、Parquet 文件或文件夹）请给出路径"
        ),
    ),
    "cli.stdout_csv": (
        "--out - writes the results (CSV) to stdout: drop --format json",
        "--out - 把结果（CSV）写到标准输出：请去掉 --format json",
    ),
    "cli.results_end": (
        "the file must end in {endings} (a league table: .html, .pdf)",
        "文件名须以 {endings} 结尾（排名表：.html、.pdf）",
    ),
    "cli.file_end": ("the file must end in {endings}", "文件名须以 {endings} 结尾"),
    "cli.xlsx_or_csv": ("the file must end in .xlsx or .csv", "文件名须以 .xlsx 或 .csv 结尾"),
    "cli.no_node": ("no indicator or group with id {ids}", "没有编号为 {ids} 的指标或分组"),
    "cli.diff_needs_new": (
        "give NEW, the scheme to compare with (or --units LAST CURRENT)",
        "请给出 NEW，即要比较的方案（或 --units 上年 本年）",
    ),
    "cli.out_needs_units": (
        "--out writes the league table of --units LAST CURRENT",
        "--out 写出 --units 上年 本年 的排名表",
    ),
    "cli.league_needs_facts": (
        "--out needs this year's units (facts) to lay out the league table, not results",
        "--out 需要本年各单位的事实（而不是结果文件）来排出排名表",
    ),
    "cli.kind_all_needs_output": (
        "--kind all needs --output FOLDER",
        "--kind all 需要 --output 文件夹",
    ),
    "cli.units_sheet_csv": (
        "a units sheet (a row per unit) is a .csv file; a workbook holds one unit's form",
        "单位表（每行一个单位）是 .csv 文件；工作簿只容纳一个单位的表单",
    ),
    "cli.tolerance": (
        "--tolerance must be a decimal of at least 0, not {given}",
        "--tolerance 须为不小于 0 的小数，而不是 {given}",
    ),
    "cli.not_a_percent": ("not a percent: {given}", "不是百分数：{given}"),
    "cli.format_needs_out": (
        "--format {format} needs --out FILE{suffix}",
        "--format {format} 需要 --out 文件{suffix}",
    ),
    "cli.errors_for_many": (
        "--errors is for many units (a batch CSV, Parquet or folder)",
        "--errors 用于多个单位（批量的 CSV、Parquet 文件或文件夹）",
    ),
    "cli.many_need_out": (
        (
            "scoring many units needs --out FILE ({endings}; a league table: .html, .pdf), "
            "or --unit NAME for one unit's page"
        ),
        (
            "为多个单位计分需要 --out 文件（{endings}；排名表：.html、.pdf），"
            "或用 --unit 名称 查看其中一个单位"
        ),
    ),
    "case.summary_properties": (
        (
            "cases: {passed} passed, {failed} failed; "
            "properties: {held} scheme(s) hold, {broken} do not"
        ),
        "用例：{passed} 个通过，{failed} 个失败；性质测试：{held} 个方案成立，{broken} 个不成立",
    ),
    "case.properties_hold": (
        "{scheme}: properties hold on {examples} examples",
        "{scheme}：{examples} 个生成的单位上性质全部成立",
    ),
    "case.properties_failed": (" {scheme}: properties", " {scheme}：性质测试"),
    "case.not_a_number": (
        "an expected value is not a number: {value}",
        "期望值不是数字：{value}",
    ),
    "case.facts_or_units": (
        "a case gives either facts (one unit) or units (a cohort)",
        "用例应给出 facts（一个单位）或 units（一组单位），二者只能取一",
    ),
    "case.units_need_units": (
        "expect.units needs units = [...]; this case gives facts",
        "expect.units 需要 units = [...]；本用例给出的是 facts",
    ),
    "case.units_expect_each": (
        "a case with units puts what each must get under [case.expect.units.NAME]",
        "含 units 的用例，每个单位的期望写在 [case.expect.units.单位名] 下",
    ),
    "case.no_unit": (
        "no unit named '{unit}' in units (have: {have})",
        "units 中没有名为“{unit}”的单位（现有：{have}）",
    ),
    "case.rank": (
        "{prefix}rank expected {want}, got {got}",
        "{prefix}名次应为 {want}，实际为 {got}",
    ),
    "case.no_cohort_value": (
        "{prefix}no cohort value '{value}'",
        "{prefix}没有群体值“{value}”",
    ),
    "case.cohort_value": (
        "{prefix}cohort value {value} expected {want}, got {got}",
        "{prefix}群体值 {value} 应为 {want}，实际为 {got}",
    ),
    "case.facts_failed": (
        "{prefix}facts failed to score: {problems}",
        "{prefix}事实无法计分：{problems}",
    ),
    "case.scored": (
        "{prefix}expected errors {codes}, but the facts scored",
        "{prefix}应报错 {codes}，但事实已正常计分",
    ),
    "case.total": (
        "{prefix}total expected {want}, got {got} (tolerance {tolerance})",
        "{prefix}总分应为 {want}，实际为 {got}（容差 {tolerance}）",
    ),
    "case.grade": (
        "{prefix}grade expected {want}, got {got}",
        "{prefix}等级应为 {want}，实际为 {got}",
    ),
    "case.no_row": (
        "{prefix}no indicator or group '{id}' in the scheme",
        "{prefix}方案中没有指标或分组“{id}”",
    ),
    "case.score": (
        "{prefix}scores.{id} expected {want}, got {got}",
        "{prefix}scores.{id} 应为 {want}，实际为 {got}",
    ),
    "case.problem": ("{problem}", "{problem}"),
    "case.excluded": ("excluded", "不计入"),
    "case.not_ranked": ("not ranked", "未排名"),
    "case.none": ("none", "无"),
    # perfrules test --properties: each broken invariant (perfrules.testing's Violation)
    "invariant.diagnostic": ("{where}{problem}", "{where}{problem}"),
    "invariant.rounded_twice": (
        (
            "'{child}' is rounded to {child_places} places and then '{parent}' to {places}: "
            "a value can round up twice (4.2649 → 4.265 → 4.27)"
        ),
        (
            "“{child}”先保留 {child_places} 位，“{parent}”再保留 {places} 位：数值可能两次进位"
            "（4.2649 → 4.265 → 4.27）"
        ),
    ),
    "invariant.not_scored": (
        "valid facts failed to score: {problems}",
        "有效的事实无法计分：{problems}",
    ),
    "invariant.determinism": (
        "the same inputs gave different JSON",
        "相同的输入得出了不同的 JSON",
    ),
    "invariant.fast_path": (
        "evaluate(trace=False) gave {fast}, the traced path {traced}",
        "不记录计算过程时得 {fast}，记录计算过程时得 {traced}（evaluate(trace=False)）",
    ),
    "invariant.bounds": (
        "score {score} is outside [0, {weight}]",
        "得分 {score} 超出 [0, {weight}]",
    ),
    "invariant.aggregation": (
        "score {score} is not the declared aggregation of its children ({expected})",
        "得分 {score} 不等于按规定由下级汇总的结果（{expected}）",
    ),
    "invariant.grade": (
        "total {total} is graded {grade}, its band is {band}",
        "总分 {total} 评为“{grade}”，而其所在区间的等级为“{band}”",
    ),
    "invariant.exactness": (
        "engine gave {score}, an independent computation {expected}",
        "引擎计算为 {score}，独立复算为 {expected}",
    ),
    "invariant.double_rounding": (
        "rounding the children first gives {score}, rounding once gives {direct}",
        "先对下级舍入得 {score}，只舍入一次得 {direct}",
    ),
    "invariant.monotonic_fails": (
        "raising {fact} from {before} to {after} makes it fail: {problems}",
        "{fact} 从 {before} 提高到 {after} 后无法计分：{problems}",
    ),
    "invariant.monotonic_positive": (
        (
            "raising {fact} from {before} to {after} lowers the score of a positive "
            "indicator from {old} to {new}"
        ),
        "{fact} 从 {before} 提高到 {after}，正向指标的得分反而从 {old} 降到 {new}",
    ),
    "invariant.monotonic_reverse": (
        (
            "raising {fact} from {before} to {after} raises the score of a reverse "
            "indicator from {old} to {new}"
        ),
        "{fact} 从 {before} 提高到 {after}，反向指标的得分反而从 {old} 升到 {new}",
    ),
    "invariant.cohort_value": (
        "cohort {cohort}: {stat} over {count} unit(s) should be {want}, the engine gave {got}",
        "群体 {cohort}：{count} 个对象的 {stat} 应为 {want}，引擎计算为 {got}",
    ),
    "invariant.imputation": (
        "unit {unit}: the {stat} of {fact} should be {want}, the engine imputed {got}",
        "单位 {unit}：{fact} 的 {stat} 应为 {want}，引擎插补为 {got}",
    ),
    "invariant.place": (
        "{unit}: {stat} of {value} among {count} should be {want}, the engine gave {got}",
        "{unit}：{value} 在 {count} 个值中的 {stat} 应为 {want}，引擎计算为 {got}",
    ),
    "invariant.rank": (
        "ranked {position}, but {better} unit(s) are better on the keys ({ties}: {expected})",
        "名次为 {position}，但按排名依据有 {better} 个对象更优（{ties}：应为 {expected}）",
    ),
    "invariant.ordinal": (
        "ordinal rank against the keys",
        "ordinal 名次与排名依据的先后不符",
    ),
    "invariant.tied": (
        "tied with {listed}, but equal on every key to {equal}",
        "与 {listed} 并列，但各排名依据都相等的是 {equal}",
    ),
    "invariant.ranked_of": (
        "of {of}, ranked {count}",
        "名次总数为 {of}，实际参与排名的有 {count} 个",
    ),
    "invariant.ordinal_ranks": (
        "ordinal ranks {positions}",
        "ordinal 名次为 {positions}，应为 1 至 {count} 各一次",
    ),
    "invariant.counterexample_facts": ("counterexample facts:", "反例（事实文件）："),
    "invariant.counterexample_units": ("counterexample units:", "反例（各单位）："),
    "level": ("Level {n}", "{n_zh}级指标"),
    "unranked": (
        (
            "not ranked: the facts of {given} of its {of} indicators are given, below the "
            "{share} required"
        ),
        "不参与排名：{of} 项指标中仅 {given} 项的数据完整，低于要求的 {share}",
    ),
    "weight": ("Weight", "权重"),
    "target": ("Target", "目标值"),
    "actual": ("Actual", "业绩值"),
    "score": ("Score", "得分"),
    "subtotal": ("Subtotal", "小计"),
    "form.sheet": ("Self-evaluation", "绩效自评表"),
    "form.weight": ("Weight", "分值"),
    "form.target": ("Annual target", "年度指标值"),
    "form.actual": ("Actual", "实际完成值"),
    "form.score": ("Score", "得分"),
    "form.reason": ("Reasons for deviation and improvements", "偏差原因分析及改进措施"),
    "form.unit": ("Unit", "填报单位"),
    "form.year": ("Year", "年度"),
    "form.date": ("Date", "填报日期"),
    "form.grade": ("Grade", "评价等级"),
    "form.filled_by": ("Filled in by", "填表人"),
    "form.reviewed_by": ("Reviewed by", "审核人"),
    "form.phone": ("Telephone", "联系电话"),
    "form.seal": ("Unit (seal)", "填报单位（盖章）"),
    "form.provenance": ("Provenance: files and hashes", "来源：文件与校验值"),
    "form.page": ("Page {page} of {pages}", "第 {page} 页 共 {pages} 页"),
    "pdf.cut": (
        "Texts over {limit} characters are cut (…) in this PDF; HTML and JSON keep them whole.",
        "本 PDF 中超过 {limit} 个字符的文字已截断（…）；HTML 和 JSON 中为全文。",
    ),
    "total": ("Total", "总分"),
    "grade": ("Grade", "等级"),
    "gap": ("{gap} short of '{label}' (needs {min}).", "距“{label}”（{min} 分）还差 {gap} 分。"),
    "top_band": ("in the top band", "已是最高等级"),
    "cohort.value": (
        "{label}: {value} ({stat} of {of} over {units} unit(s){where}{source})",
        "{label}：{value}（{units} 个对象中 {of} 的{stat_zh}{where}{source}）",
    ),
    "cohort.where": (", where {where}", "，条件 {where}"),
    "cohort.source": (", from {unit}", "，取自 {unit}"),
    "cohort.of": ("in {cohort}", "所在组：{cohort}"),
    "cohort.rank": (
        "Rank: {position} of {of} ({keys}; ties: {ties}){tied}",
        "排名：第 {position} 名，共 {of} 名（{keys}；并列规则：{ties}）{tied}",
    ),
    "cohort.tied": ("; tied with {units}", "；与 {units} 并列"),
    "cohort.more": (" and {n} more", " 等另外 {n} 个单位"),
    "cohort.unranked": ("Not ranked", "未参与排名"),
    "improve": (
        "To reach it, the fewest rows that can close the gap (points each can win back): {items}",
        "要达到该等级，最少需改进的指标（各自可挽回的分数）：{items}",
    ),
    "lost": ("Points lost", "失分"),
    "excluded": ("not applicable (excluded)", "不适用（已排除）"),
    "note.total_capped": (
        "the rows add up to {sum}; the total is capped at {max} (fit = cap)",
        "各行合计 {sum}，总分以 {max} 为上限（fit = cap）",
    ),
    "note.not_counted": (
        "shown and scored, not counted in the total (counted = false)",
        "仅列示并计分，不计入总分（counted = false）",
    ),
    "note.renormalised": (
        "renormalised: {sum} of {applicable} applicable points × {max}/{applicable}",
        "按适用指标折算：{sum} ÷ {applicable} × {max}",
    ),
    "formula": ("formula", "公式"),
    "inputs": ("inputs", "输入"),
    "steps": ("steps", "计算步骤"),
    "rounded": ("round {mode} {places}", "{mode_zh}保留 {places} 位"),
    "notes": ("notes", "说明"),
    "sources": ("from", "出处"),
    "n_errors": ("{n} error(s)", "{n} 个错误"),
    "n_warnings": ("{n} warning(s)", "{n} 个警告"),
    "ok": ("{file}: no problems found", "{file}：未发现问题"),
    "note.missing_zero": ("fact '{fact}' missing: scored 0", "事实“{fact}”缺失：记 0 分"),
    "note.missing_full": ("fact '{fact}' missing: full marks", "事实“{fact}”缺失：记满分"),
    "note.missing_exclude": (
        "fact '{fact}' missing: excluded",
        "事实“{fact}”缺失：不计入",
    ),
    "note.imputed": (
        (
            "fact '{fact}' missing: imputed {value}, the {stat} of the {units} unit(s) of "
            "the {over} that give it"
        ),
        "事实“{fact}”缺失：按{over_zh}中给出该事实的 {units} 个对象的{stat_zh}插补为 {value}",
    ),
    "note.na_exclude": ("not applicable: excluded{reason}", "不适用：不计入{reason}"),
    "note.na_full": ("not applicable: full marks{reason}", "不适用：记满分{reason}"),
    "note.na_zero": ("not applicable: scored 0{reason}", "不适用：记 0 分{reason}"),
    "note.override": (
        "score set by hand to {score} (formula gave {computed}): {reason}",
        "人工调整为 {score} 分（公式计算为 {computed}）：{reason}",
    ),
    "note.approximate": (
        (
            "{values} irrational: computed to {digits} significant digits, enough to round "
            "the true value"
        ),
        "{values} 为无理数：计算到 {digits} 位有效数字，足以对真值正确舍入",
    ),
    "note.reweighted": (
        "rows left out: the others, {applicable} of {weight}, sum {sum}, scaled up to {weight}",
        "有行被排除：其余各行（分值 {applicable}/{weight}）合计 {sum}，按比例折算到 {weight}",
    ),
    "note.geometric": (
        (
            "its weight × the geometric mean of its rows' shares (score ÷ weight), weighted "
            "by their weights"
        ),
        "分值 × 各行得分率（得分 ÷ 分值）按分值加权的几何平均",
    ),
    "note.clamped": (
        "formula gave {value}; clamped to [0, {weight}]",
        "公式结果为 {value}，按 [0, {weight}] 封顶",
    ),
    "note.grade_override": (
        "grade set to '{label}' because {when}",
        "因满足条件 {when}，等级定为“{label}”",
    ),
    "note.level": (
        "{fact}: level '{level}' → share {share}",
        "{fact}：档次“{level}”→ 比例 {share}",
    ),
    "unit": ("Unit", "单位"),
    "colon": (": ", "："),
    "diff.none": ("no differences", "没有差异"),
    "diff.added": ("added", "新增"),
    "diff.removed": ("removed", "删除"),
    "diff.renamed": ("renamed", "改名"),
    "diff.moved": ("moved", "移动"),
    "diff.changed": ("changed", "修改"),
    "diff.title": ("the same unit under both schemes", "同一单位在两个方案下的得分"),
    "section.indicators": ("indicators", "指标"),
    "section.groups": ("groups", "分组"),
    "section.bands": ("bands", "等级"),
    "section.formulas": ("formulas", "公式"),
    "section.inputs": ("inputs", "输入项"),
    "section.scales": ("scales", "定性等级表"),
    "section.rounding": ("rounding", "舍入"),
    "section.defaults": ("defaults", "默认值"),
    "section.scheme": ("scheme", "方案信息"),
    "section.grade_overrides": ("grade overrides", "等级特别规定"),
    "legend.not_counted": (
        "(weight): shown and scored, not counted in the total",
        "（分值）：仅列示并计分，不计入总分",
    ),
    "section.cohort": ("cohort", "参评群体"),
    "section.cohort.values": ("cohort values", "群体取值"),
    "section.ranking": ("ranking", "排名"),
    "column.id": ("id", "编号"),
    "column.name": ("name", "指标"),
    "column.old": ("old", "原得分"),
    "column.new": ("new", "新得分"),
    "column.change": ("change", "变化"),
    "audit.finding": (
        "{where}{id}: published {published}, the scheme gives {expected}",
        "{where}{id}：发布 {published}，按方案应为 {expected}",
    ),
    "audit.difference": (" (difference {difference})", "（差 {difference}）"),
    "audit.ok": ("{parts} follow the scheme", "{parts}均与方案一致"),
    "audit.rows": ("the {checked} published rows", "已发布的 {checked} 行"),
    "audit.total": ("the total {total}", "总分 {total}"),
    "audit.grade": ("the grade '{grade}'", "等级“{grade}”"),
    "audit.unchecked": (
        "not checked (not published): {what}",
        "未核对（报告未发布）：{what}",
    ),
    "audit.the_total": ("the total", "总分"),
    "audit.the_grade": ("the grade", "等级"),
    "audit.the_rows": ("{count} row(s): {ids}", "{count} 行：{ids}"),
    "league.rank": ("Rank", "排名"),
    "league.unit": ("Unit", "对象"),
    "league.previous": ("Last year", "上年名次"),
    "league.movement": ("Move", "升降"),
    "league.new": ("new", "新进"),
    "league.failed": ("not ranked", "未排名"),
    "league.dropped": ("no longer in the table", "本年未列入"),
    "league.units": ("{n} units", "共 {n} 个对象"),
    "league.ties": ("ties: {ties}", "并列规则：{ties}"),
    "movers.title": ("this year against last year", "本年与上年对比"),
    "movers.new": ("new this year: {units}", "本年新进：{units}"),
    "movers.dropped": ("dropped since last year: {units}", "本年未列入：{units}"),
    "movers.failed": (
        "{year}: {unit} cannot be scored ({codes})",
        "{year}：{unit} 无法计分（{codes}）",
    ),
    "movers.old": ("last year", "上年"),
    "movers.new_year": ("this year", "本年"),
    "audit.table.rows": (
        "{units} units: {exact} exact, {within} within {tolerance}, {off} off",
        "{units} 个对象：{exact} 个完全一致，{within} 个在容差 {tolerance} 内，{off} 个不符",
    ),
    "audit.table.unscored": ("{count} cannot be scored", "{count} 个无法计分"),
    "audit.table.unchecked": ("{count} publish no score", "{count} 个未公布得分"),
    "audit.table.ranks": (
        "ranks: {agree} of {compared} agree (largest shift {shift})",
        "名次：{compared} 个中 {agree} 个一致（最大相差 {shift} 名）",
    ),
    "audit.table.finding": (
        "{where}{unit} {what}: published {published}, recomputed {expected}",
        "{where}{unit} {what}：公布 {published}，重算为 {expected}",
    ),
    "audit.table.within": (
        " (difference {difference}, within the tolerance)",
        "（差 {difference}，在容差内）",
    ),
    "audit.table.off": (" (difference {difference})", "（差 {difference}）"),
    "audit.table.ok": (
        "every published number is within the tolerance and every rank agrees",
        "公布的数值均在容差内，名次均一致",
    ),
    "batch.counts": (
        "{out}: {scored} units scored, {failed} failed",
        "{out}：{scored} 个单位已计分，{failed} 个失败",
    ),
    "batch.grades": ("grades: {grades}", "等级分布：{grades}"),
    "batch.mean": ("mean total {mean}, median {median}", "平均分 {mean}，中位数 {median}"),
    "batch.lost": ("most points lost (mean): {worst}", "平均失分最多的指标：{worst}"),
    "batch.failed": ("units that failed:", "失败的单位："),
    "scheme": ("Scheme", "方案"),
    "rule_file.shadowed": (
        "note: '{spec}' is both a path and an installed rule pack's id; the path was read: {path}",
        "注意：“{spec}”既是路径，也是已安装规则包的编号；已读取该路径：{path}",
    ),
    "new_year.root": (
        (
            "it extends a file outside its own folder: run perfrules with --root {root} "
            "(or set PERFRULES_ROOT={root}) to check and score it"
        ),
        (
            "新方案继承了其所在文件夹以外的文件：请用 --root {root} 运行 perfrules"
            "（或设置环境变量 PERFRULES_ROOT={root}）来检查和计分"
        ),
    ),
    "provenance": (
        "scheme {id} {version}, perfrules {lib}",
        "方案 {id} {version}，perfrules {lib}",
    ),
}

_ZH_DIGITS = "零一二三四五六七八九十"


def among(cohort: str | None) -> dict[str, str]:
    """The parameters that say where a cohort's problem is: its cohort, or every unit.

    A scheme whose units are not put in cohorts scores them all together: its messages say
    so rather than name a cohort with no name.
    """
    if cohort:
        return {
            "cohort": cohort,
            "among": f"in cohort '{cohort}'",
            "among_zh": f"群体“{cohort}”中",
        }
    return {
        "cohort": "",
        "among": "among the units scored together",
        "among_zh": "一同评分的对象中",
    }


def severity_of(code: str) -> Literal["error", "warning"]:
    """The default severity of a diagnostic code (``error`` for unknown codes)."""
    entry = MESSAGES.get(code)
    return "warning" if entry is not None and entry[0] == "warning" else "error"


class _Fields(dict[str, object]):
    """Format mapping that shows ``?`` for a missing field instead of failing."""

    def __missing__(self, key: str) -> object:
        if key.endswith("_zh"):
            return self.get(key[:-3], "?")
        return "?"


_FORMATTER = string.Formatter()


def _fill(template: str, params: Mapping[str, object]) -> str:
    fields = _Fields(params)
    if "n" in fields and isinstance(fields["n"], int) and 0 <= fields["n"] <= 10:
        fields.setdefault("n_zh", _ZH_DIGITS[fields["n"]])
    return _FORMATTER.vformat(template, (), fields)


#: The ``table`` of a key at the top of a file (no table of its own), as diagnostics give it;
#: written in the message's language (:func:`_said`).
TOP_TABLE: Final = "(top)"
_TOP_TABLE_SAID: Final = {"en": "the file's top level", "zh": "文件顶层"}


def _said(params: Mapping[str, object], lang: Lang) -> Mapping[str, object]:
    """*params* with the words for :data:`TOP_TABLE` in *lang*."""
    if params.get("table") == TOP_TABLE:
        return {**params, "table": _TOP_TABLE_SAID[lang]}
    return params


def render_message(code: str, params: Mapping[str, object], lang: Lang) -> str:
    """The message of *code* in *lang*; unknown codes fall back to the code itself."""
    entry = MESSAGES.get(code)
    if entry is None:
        return f"{code} {dict(params)}"
    return _fill(entry[2] if lang == "zh" else entry[1], _said(params, lang))


def render_hint(hint: str, params: Mapping[str, object], lang: Lang) -> str:
    """The hint *hint* in *lang*."""
    entry = HINTS.get(hint)
    if entry is None:
        return hint
    return _fill(entry[1] if lang == "zh" else entry[0], _said(params, lang))


def ui(key: str, lang: Lang, **params: object) -> str:
    """A UI string (column header, label) in *lang*."""
    entry = UI[key]
    return _fill(entry[1] if lang == "zh" else entry[0], params)


def template_fields(template: str) -> set[str]:
    """The field names a template uses (for the completeness test)."""
    return {name for _, name, _, _ in _FORMATTER.parse(template) if name}
