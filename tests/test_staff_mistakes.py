"""The mistakes a policy officer makes editing a rule file in a Chinese input method.

Each comes back as a plain message at file:line:column, with what to type instead, in the
language asked for.
"""

from __future__ import annotations

import pytest

from perfrules.rules._front import check_path

HEAD = (
    '[scheme]\nid = "t"\ntitle = "t"\nmax = 10\n\n[[bands]]\nlabel = "合格"\nmin = 0\nmax = 10\n\n'
)


def _only(tmp_path, body: str):
    path = tmp_path / "scheme.toml"
    path.write_text(HEAD + body, encoding="utf-8")
    _, _, diagnostics = check_path(path)
    errors = [d for d in diagnostics if d.severity == "error"]
    assert len(errors) == 1, [d.format("en") for d in errors]
    return errors[0]


@pytest.mark.parametrize(
    ("line", "column", "hint_en", "hint_zh"),
    [
        (
            '名称 = "x"',
            1,
            'a key in Chinese is written in quotes: "名称" = "x"',
            "中文键名须加英文引号",
        ),
        (
            "[indicators.质量]",
            13,
            'in quotes: [indicators."质量"]',
            '加英文引号：[indicators."质量"]',
        ),
        ("weight ＝ 6", 8, "type '=' instead", "请改用半角字符“=”"),
        ("weight：6", 7, "type '=' instead", "请改用半角字符“=”"),
        ("title = “某”", 9, "type '\"' instead", '请改用半角字符“"”'),
        ("weight = ６", 10, "type '6' instead", "请改用半角字符“6”"),
    ],
)
def test_a_syntax_error_says_what_to_type(tmp_path, line, column, hint_en, hint_zh):
    problem = _only(tmp_path, f'[indicators."a"]\n{line}\n')
    assert (problem.code, problem.line, problem.column) == ("PR100", 12, column)
    assert hint_en in problem.hint_text("en")
    assert hint_zh in problem.hint_text("zh")


@pytest.mark.parametrize(
    ("message_en", "message_zh", "body"),
    [
        ("Invalid statement", "无效的语句", '名称 = "x"'),
        ("Invalid value", "无效的值", "weight = ６"),
        ("Expected '=' after a key", "键后应为“=”", "weight：6"),
        ("Expected newline or end of document", "一行只能写一个键值对", "weight = 6, max = 1"),
    ],
)
def test_toml_syntax_errors_are_said_in_chinese(tmp_path, message_en, message_zh, body):
    problem = _only(tmp_path, f'[indicators."a"]\n{body}\n')
    assert message_en in problem.message("en")
    assert message_zh in problem.message("zh")
    assert "TOML 语法错误：" in problem.message("zh")


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("名称", "name"),
        ("权重", "weight"),
        ("上级", "parent"),
        ("公式", "formula"),
        ("目标值", "target"),
    ],
)
def test_a_chinese_key_name_suggests_the_key_meant(tmp_path, key, meant):
    body = f'[indicators."a"]\nweight = 10\nformula = "weight"\n"{key}" = "x"\n'
    problem = _only(tmp_path, body)
    assert problem.code == "PR101"
    assert problem.hint_text("en") == f"did you mean '{meant}'?"


def test_weights_that_no_longer_add_up_are_shown_where_next_year_changed_them(tmp_path):
    path = tmp_path / "2022.toml"
    path.write_text(
        'extends = "examples/xinzhou-zfw-2021"\n[scheme]\nid = "n"\ntitle = "n"\n\n'
        '[indicators."数量-三零创建"]\nweight = 8\n',
        encoding="utf-8",
    )
    _, _, diagnostics = check_path(path)
    (problem,) = [d for d in diagnostics if d.severity == "error"]
    assert problem.code == "PR201"
    assert (problem.file, problem.line) == (str(path), 7)  # not last year's file
    assert "'数量' has weight 30" in problem.message("en")


def test_weights_broken_in_last_years_file_stay_there(tmp_path):
    base = tmp_path / "2021.toml"
    base.write_text(
        HEAD + '[groups."g"]\nweight = 10\n[indicators."a"]\nparent = "g"\nweight = 9\n'
        'formula = "weight"\n',
        encoding="utf-8",
    )
    child = tmp_path / "2022.toml"
    child.write_text('extends = "2021.toml"\n[scheme]\nid = "n"\ntitle = "n"\n', "utf-8")
    _, _, diagnostics = check_path(child)
    (problem,) = [d for d in diagnostics if d.severity == "error"]
    assert (problem.code, problem.file) == ("PR201", str(base))


def test_a_number_in_quotes_says_to_drop_them(tmp_path):
    problem = _only(tmp_path, '[indicators."a"]\nweight = "10"\nformula = "weight"\n')
    assert problem.code == "PR102"
    assert problem.hint_text("en") == "write the number without quotes: weight = 10"
    assert problem.hint_text("zh") == "数字不加引号：weight = 10"


def test_full_width_digits_in_quotes_are_hinted_as_toml_reads_them(tmp_path):
    problem = _only(tmp_path, '[indicators."a"]\nweight = "\uff11\uff10"\nformula = "weight"\n')
    assert problem.code == "PR102"
    assert problem.hint_text("en") == "write the number without quotes: weight = 10"


@pytest.mark.parametrize("written", ["1e30", "1e400", "1" * 41, "0." + "1" * 31])
def test_a_number_too_large_or_too_fine_says_the_limit(tmp_path, written):
    problem = _only(tmp_path, f'[indicators."a"]\nweight = {written}\nformula = "weight"\n')
    assert problem.code == "PR102"
    assert "below 10^30, of at most 30 digits and 30 decimal places" in problem.message("en")
    assert "绝对值小于 10^30" in problem.message("zh")


@pytest.mark.parametrize(
    "info",
    [
        'id = "t"\ntitel = "t"\nmax = 10\nlevels = ["一级", "二级"]',  # a misspelt key
        'title = "t"\nmax = 10\nlevels = ["一级", "二级"]',  # a missing one
        'id = "t"\ntitle = 5\nmax = 10\nlevels = ["一级", "二级"]',  # a wrong one
    ],
)
def test_a_broken_scheme_table_hides_no_other_problem(tmp_path, info):
    path = tmp_path / "scheme.toml"
    path.write_text(
        f'[scheme]\n{info}\n\n[[bands]]\nlabel = "a"\nmin = 0\nmax = 10\n\n'
        '[indicators."a"]\nweight = 11\nformula = "weight"\n',
        encoding="utf-8",
    )
    _, _, diagnostics = check_path(path)
    codes = {d.code for d in diagnostics}
    assert {"PR202", "PR227"} <= codes, [d.format("en") for d in diagnostics]
    (total,) = [d for d in diagnostics if d.code == "PR202"]
    assert "add up to 11, but the scheme's max is 10" in total.message("en")


@pytest.mark.parametrize("text", ["", "\n\n", "# next year's scheme\n"])
def test_an_empty_rule_file_is_said_to_be_empty_in_the_words_of_each_language(tmp_path, text):
    path = tmp_path / "scheme.toml"
    path.write_text(text, encoding="utf-8")
    _, _, diagnostics = check_path(path)
    (missing,) = [d for d in diagnostics if d.code == "PR103"]
    assert missing.message("en") == "the file's top level: required key 'scheme' is missing"
    assert missing.message("zh") == "文件顶层：缺少必填的键“scheme”"
    assert (missing.hint_text("en") or "").startswith("the file is empty")
    assert (missing.hint_text("zh") or "").startswith("文件是空的")


def test_a_file_with_keys_but_no_scheme_table_is_not_called_empty(tmp_path):
    path = tmp_path / "scheme.toml"
    path.write_text('title = "x"\n', encoding="utf-8")
    _, _, diagnostics = check_path(path)
    (missing,) = [d for d in diagnostics if d.code == "PR103"]
    assert missing.hint is None
    (unknown,) = [d for d in diagnostics if d.code == "PR101"]
    assert unknown.message("en") == "unknown key 'title' in the file's top level"


def test_text_that_is_no_number_has_no_such_hint(tmp_path):
    problem = _only(tmp_path, '[indicators."a"]\nweight = "十"\nformula = "weight"\n')
    assert (problem.code, problem.hint) == ("PR102", None)


def test_removing_a_row_that_is_not_there_is_said_in_chinese_words(tmp_path):
    path = tmp_path / "2022.toml"
    path.write_text(
        'extends = "examples/xinzhou-zfw-2021"\n[scheme]\nid = "n"\ntitle = "n"\n\n'
        '[remove]\nindicators = ["数量-法学会x"]\ngroups = ["无此分组"]\n',
        encoding="utf-8",
    )
    _, _, diagnostics = check_path(path)
    said = sorted(d.message("zh") for d in diagnostics if d.code == "PR224")
    assert said == [
        "remove 中列出的分组“无此分组”在被继承的方案中不存在",
        "remove 中列出的指标“数量-法学会x”在被继承的方案中不存在",
    ]


def test_a_removed_row_that_breaks_its_group_s_sum_is_placed_at_the_removal(tmp_path):
    # Next year's file removes a row and changes no weight: the group's weight is in last
    # year's pack, which the author cannot edit. The problem is at the removal, with what
    # to do about it in this file.
    path = tmp_path / "2022.toml"
    path.write_text(
        'extends = "examples/xinzhou-zfw-2021"\n[scheme]\nid = "n"\n\n'
        '[remove]\nindicators = ["数量-法学会"]\n',
        encoding="utf-8",
    )
    _, _, diagnostics = check_path(path)
    (problem,) = diagnostics
    assert problem.code == "PR201"
    assert (problem.file, problem.line, problem.column) == (str(path), 6, 15)
    assert problem.path == ("remove", "indicators", 0)
    assert problem.hint_text("en") == (
        "'数量-法学会' is removed here: in this file, give '数量' the weight its rows now add "
        "up to (24), or another of its rows more weight"
    )
    assert "此处删除了“数量-法学会”" in (problem.hint_text("zh") or "")


def test_a_removed_top_row_is_placed_at_the_removal_and_a_changed_weight_still_wins(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text(
        '[scheme]\nid = "b"\ntitle = "b"\nmax = 10\n\n[defaults]\nformula = "weight"\n\n'
        '[[bands]]\nlabel = "A"\nmin = 0\nmax = 10\n\n'
        "[indicators.a]\nweight = 6\n\n[indicators.b]\nweight = 4\n",
        encoding="utf-8",
    )
    child = tmp_path / "child.toml"
    child.write_text('extends = "base.toml"\n\n[remove]\nindicators = ["b"]\n', encoding="utf-8")
    _, _, diagnostics = check_path(child)
    (problem,) = diagnostics
    assert (problem.code, problem.file, problem.line) == ("PR202", str(child), 4)
    assert problem.hint == "removed_top_row"
    assert "set [scheme] max and the bands to what the rows now add up to (6)" in (
        problem.hint_text() or ""
    )
    # a weight written in this file is where the sum broke, as before
    child.write_text(
        'extends = "base.toml"\n\n[indicators.a]\nweight = 5\n\n[remove]\nindicators = ["b"]\n',
        encoding="utf-8",
    )
    _, _, diagnostics = check_path(child)
    (problem,) = diagnostics
    assert (problem.code, problem.line, problem.path) == (
        "PR202",
        4,
        ("indicators", "a", "weight"),
    )


def _chain(tmp_path, **files: str):
    for name, text in files.items():
        (tmp_path / f"{name}.toml").write_text(text, encoding="utf-8")


def test_a_removal_earlier_in_a_chain_is_where_the_sum_broke(tmp_path):
    # 2022 removes a row, 2023 extends 2022 and changes nothing: the problem is at 2022's
    # removal, not in the pack both stand on; a removal of an input breaks no sum.
    _chain(
        tmp_path,
        y2022='extends = "examples/xinzhou-zfw-2021"\n[scheme]\nid = "a"\n\n'
        '[remove]\nindicators = ["数量-法学会"]\n',
        y2023='extends = "y2022.toml"\n[scheme]\nid = "b"\n\n[inputs]\nextra = {}\n',
        y2024='extends = "y2023.toml"\n[scheme]\nid = "c"\n\n[remove]\ninputs = ["extra"]\n',
    )
    for checked in ("y2023.toml", "y2024.toml"):
        _, _, diagnostics = check_path(tmp_path / checked)
        (problem,) = diagnostics
        assert (problem.code, problem.hint) == ("PR201", "removed_row")
        assert (problem.file, problem.line) == (str(tmp_path / "y2022.toml"), 6)


def test_a_removed_group_with_rows_still_under_it_is_shown_at_the_removal(tmp_path):
    _chain(
        tmp_path,
        y2022='extends = "examples/xinzhou-zfw-2021"\n[scheme]\nid = "a"\n\n'
        '[remove]\ngroups = ["满意度"]\n',
    )
    _, _, diagnostics = check_path(tmp_path / "y2022.toml")
    placed = {(d.code, d.file, d.line, d.hint) for d in diagnostics}
    where = str(tmp_path / "y2022.toml")
    assert placed == {
        ("PR203", where, 6, "removed_parent"),  # 群众满意度 is still under it
        ("PR205", where, 6, "removed_last_rows"),  # its own group is left empty
    }
    (orphan,) = [d for d in diagnostics if d.code == "PR203"]
    assert "remove '群众满意度' too, or give it another parent" in (orphan.hint_text() or "")
