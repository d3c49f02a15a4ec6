// The perfrules workbench page. No framework, no build: it asks the server (the engine) for
// everything — diagnostics, scores, traces, diffs — and only displays the answers.

const csrf = document.querySelector('meta[name="perfrules-csrf"]').content;
const bundle = document.querySelector('meta[name="perfrules-bundle"]').content;
const nonce = document.querySelector("script[nonce]").nonce;

const TEXT = {
  zh: {
    title: "perfrules 工作台",
    "tab.rules": "规则", "tab.score": "评分", "tab.diff": "对比", "tab.tests": "测试", "tab.audit": "审核", "tab.export": "导出",
    "audit.report": "已发布的报告", "audit.run": "审核", "audit.ok": "报告与重算一致（核对 {n} 行）：总分 {total}，{grade}",
    "audit.bad": "{n} 处不一致；重算：总分 {total}，{grade}", "audit.published": "报告值", "audit.expected": "重算值",
    "audit.difference": "差", "audit.reason": "可能原因",
    "rules.file": "规则文件", "rules.save": "保存", "rules.problems": "问题", "rules.editor": "规则编辑器",
    "rules.clean": "没有问题", "rules.count": "{n} 个问题", "rules.saved": "已保存",
    "rules.conflict": "文件在打开后已被修改，未保存（请重新打开）",
    "rules.year": "新年度", "rules.new_year": "生成新年度方案", "rules.created": "已生成 {path}", "rules.exists": "{path} 已存在",
    "score.scheme": "方案", "score.facts": "事实", "score.run": "计算得分", "score.use_editor": "用编辑器中的规则",
    "score.edit_facts": "编辑事实", "score.upload": "或上传事实文件", "score.total": "总分", "score.grade": "等级", "score.table": "得分表",
    "score.gap": "距“{next}”还差 {shortfall}；最少需改进：{rows}", "score.top": "已是最高等级",
    "col.level": "层级", "col.id": "指标", "col.weight": "权重", "col.score": "得分", "col.lost": "失分",
    "level": ["方案", "一级", "二级", "三级", "四级", "五级"],
    "trace.formula": "公式", "trace.inputs": "输入", "trace.steps": "计算步骤", "trace.roundings": "舍入",
    "trace.notes": "说明", "trace.source": "来源", "trace.whatif": "试算", "trace.target": "目标", "trace.actual": "实际",
    "whatif.note": "试算：总分 {before} → {after}（{grade}）", "whatif.reset": "恢复原值",
    "diff.old": "旧方案", "diff.new": "新方案", "diff.facts": "单位事实（可选）", "diff.run": "比较",
    "diff.none": "两个方案没有差异", "diff.changes": "规则变化", "diff.effect": "对该单位的影响",
    "diff.total": "总分 {old} → {new}（{delta}）", "diff.before": "旧方案得分", "diff.after": "新方案得分", "diff.units": "多个单位（可选）",
    "diff.whose": "谁的等级会变", "diff.unit": "单位", "diff.grades": "等级", "diff.flips": "{n} 个单位等级变化", "diff.grade": "等级 {old} → {new}",
    "diff.both": "“{unit}”在两个方案下的计算过程",
    "tests.pack": "规则包", "tests.run": "运行用例", "tests.scheme": "方案", "tests.prove": "证明",
    "tests.summary": "用例：{passed} 通过，{failed} 失败", "tests.pass": "通过", "tests.fail": "失败",
    "prove.passed": "性质在 {n} 个生成的单位上成立", "prove.failed": "性质不成立（{n} 个例子后找到反例）",
    "prove.open": "在评分中打开反例", "prove.counterexample": "反例：",
    "case.title": "存为用例", "case.pack": "保存到规则包", "case.name": "用例名称", "case.total": "预期总分",
    "case.grade": "预期等级", "case.errors": "预期错误代码", "case.save": "存为用例", "case.saved": "已保存到 {path}（第 {line} 行）：{outcome}",
    "case.passes": "该用例在 perfrules test 中通过", "case.fails": "该用例在 perfrules test 中失败：{why}",
    "case.whatif": "试算：{values}", "case.counterexample": "反例（{scheme}）", "case.exists": "已有同名用例：请换一个名称",
    "export.xlsx": "XLSX 表单", "export.pdf": "PDF 报告", "export.html": "HTML 报告", "export.json": "追踪 JSON",
    "export.template": "填报模板", "export.done": "已下载 {name}", "none": "（无）", "switch": "English",
    "busy": "正在计算…",
  },
  en: {
    title: "perfrules workbench",
    "tab.rules": "Rules", "tab.score": "Score", "tab.diff": "Diff", "tab.tests": "Tests", "tab.audit": "Audit", "tab.export": "Export",
    "audit.report": "Published report", "audit.run": "Audit", "audit.ok": "The report agrees ({n} rows checked): total {total}, {grade}",
    "audit.bad": "{n} mismatch(es); recomputed: total {total}, {grade}", "audit.published": "Published", "audit.expected": "Recomputed",
    "audit.difference": "Difference", "audit.reason": "Likeliest slip",
    "rules.file": "Rule file", "rules.save": "Save", "rules.problems": "Problems", "rules.editor": "Rule editor",
    "rules.clean": "No problems", "rules.count": "{n} problem(s)", "rules.saved": "Saved",
    "rules.conflict": "The file changed on disk since it was opened; not saved (open it again)",
    "rules.year": "New year", "rules.new_year": "Start next year's scheme", "rules.created": "Wrote {path}", "rules.exists": "{path} exists already",
    "score.scheme": "Scheme", "score.facts": "Facts", "score.run": "Score", "score.use_editor": "Use the rules in the editor",
    "score.edit_facts": "Edit facts", "score.upload": "or upload a facts file", "score.total": "Total", "score.grade": "Grade", "score.table": "Scores",
    "score.gap": "{shortfall} short of {next}; fewest rows to improve: {rows}", "score.top": "Already the top grade",
    "col.level": "Level", "col.id": "Indicator", "col.weight": "Weight", "col.score": "Score", "col.lost": "Lost",
    "level": ["Scheme", "Level 1", "Level 2", "Level 3", "Level 4", "Level 5"],
    "trace.formula": "Formula", "trace.inputs": "Inputs", "trace.steps": "Steps", "trace.roundings": "Rounding",
    "trace.notes": "Notes", "trace.source": "source", "trace.whatif": "What if", "trace.target": "Target", "trace.actual": "Actual",
    "whatif.note": "What-if: total {before} → {after} ({grade})", "whatif.reset": "Reset",
    "diff.old": "Old scheme", "diff.new": "New scheme", "diff.facts": "A unit's facts (optional)", "diff.run": "Compare",
    "diff.none": "The schemes do not differ", "diff.changes": "Rule changes", "diff.effect": "Effect on the unit",
    "diff.total": "Total {old} → {new} ({delta})", "diff.before": "Old score", "diff.after": "New score", "diff.units": "Many units (optional)",
    "diff.whose": "Whose grade changes", "diff.unit": "Unit", "diff.grades": "Grade", "diff.flips": "{n} unit(s) change grade", "diff.grade": "Grade {old} → {new}",
    "diff.both": "{unit} under both schemes",
    "tests.pack": "Pack", "tests.run": "Run cases", "tests.scheme": "Scheme", "tests.prove": "Prove",
    "tests.summary": "cases: {passed} passed, {failed} failed", "tests.pass": "pass", "tests.fail": "FAIL",
    "prove.passed": "The properties hold on {n} generated units", "prove.failed": "A property fails (counterexample after {n} examples)",
    "prove.open": "Open the counterexample in Score", "prove.counterexample": "Counterexample:",
    "case.title": "Save as a case", "case.pack": "Save into pack", "case.name": "Case name", "case.total": "Expected total",
    "case.grade": "Expected grade", "case.errors": "Expected error codes", "case.save": "Save as a case", "case.saved": "Saved in {path} (line {line}): {outcome}",
    "case.passes": "the case passes under perfrules test", "case.fails": "the case fails under perfrules test: {why}",
    "case.whatif": "what if {values}", "case.counterexample": "counterexample ({scheme})", "case.exists": "A case of that name is there already: choose another name",
    "export.xlsx": "XLSX form", "export.pdf": "PDF report", "export.html": "HTML report", "export.json": "Trace JSON",
    "export.template": "Facts template", "export.done": "Downloaded {name}", "none": "(none)", "switch": "中文",
    "busy": "Working…",
  },
};

let lang = localStorage.getItem("perfrules.lang") || document.body.dataset.lang || "zh";
const $ = (id) => document.getElementById(id);

function t(key, values = {}) {
  const text = TEXT[lang][key] ?? TEXT.zh[key] ?? key;
  return typeof text === "string" ? text.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? "")) : text;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(method, path, body) {
  const init = { method, headers: { "X-Perfrules-CSRF": csrf } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  return { status: answer.status, answer };
}

async function apiJson(method, path, body) {
  const { status, answer } = await api(method, path, body);
  return { status, data: await answer.json() };
}

// -- language ---------------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  $("lang-switch").textContent = t("switch");
  $("facts-text").setAttribute("aria-label", t("score.facts"));
}

$("lang-switch").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("perfrules.lang", lang);
  applyLanguage();
  if (lastTrace) showScore(lastTrace, lastShown);
  if (editorView) relint();
});

async function relint() {
  // the same text, the messages in the other language
  const diagnostics = await lintSource(editorView);
  editorView.dispatch(cm.setDiagnostics(editorView.state, diagnostics));
}

// -- tabs ---------------------------------------------------------------------------------------

function showTab(id) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.getAttribute("aria-controls") === id;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
}
const tabs = [...document.querySelectorAll('[role="tab"]')];
for (const tab of tabs) {
  tab.addEventListener("click", () => showTab(tab.getAttribute("aria-controls")));
  tab.addEventListener("keydown", (event) => {
    // the arrow keys move between tabs, as in any tab list
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
    next.focus();
    showTab(next.getAttribute("aria-controls"));
  });
}
showTab("rules");

// -- files ----------------------------------------------------------------------------------------

let files = [];

function fill(select, kinds, { optional = false, prefer = null } = {}) {
  select.replaceChildren();
  if (optional) select.append(el("option", { value: "" }, t("none")));
  for (const file of files.filter((f) => kinds.includes(f.kind))) {
    select.append(el("option", { value: file.path }, file.path));
  }
  if (prefer) {
    const found = [...select.options].find((o) => o.value.endsWith(prefer));
    if (found) select.value = found.value;
  }
}

async function loadFiles() {
  const { data } = await apiJson("GET", "/api/files");
  files = data.files;
  fill($("rules-file"), ["scheme"]);
  fill($("score-scheme"), ["scheme"]);
  fill($("score-facts"), ["facts"]);
  fill($("diff-old"), ["scheme"]);
  fill($("diff-new"), ["scheme"]);
  const schemes = [...$("diff-new").options];
  if (schemes.length > 1) $("diff-new").value = schemes[1].value;
  fill($("diff-facts"), ["facts"], { optional: true });
  fill($("diff-units"), ["facts"], { optional: true });
  fill($("tests-pack"), ["pack"]);
  fill($("case-pack"), ["pack"]);
  fill($("prove-scheme"), ["scheme"]);
  fill($("export-scheme"), ["scheme"]);
  fill($("audit-scheme"), ["scheme"]);
  fill($("audit-report"), ["report"]);
  fill($("export-facts"), ["facts"]);
  // facts that sit beside the chosen scheme
  for (const [scheme, facts] of [["score-scheme", "score-facts"], ["export-scheme", "export-facts"], ["audit-scheme", "audit-report"]]) {
    const pick = () => {
      const folder = $(scheme).value.replace(/[^/]*$/, "");
      const beside = [...$(facts).options].find((o) => o.value.startsWith(folder));
      if (beside) $(facts).value = beside.value;
    };
    $(scheme).addEventListener("change", pick);
    pick();
  }
}

// -- rules: the editor, diagnostics as you type ----------------------------------------------------

let cm = null;
let editorView = null;
let opened = { path: null, sha256: null };
let lastEdit = 0;

function offsets(doc, d) {
  // the library's span: line:column up to end_line:end_column (exclusive); one character
  // when it gives no end (a TOML syntax error)
  if (d.line < 1 || d.line > doc.lines) return { from: 0, to: Math.min(1, doc.length) };
  const row = doc.line(d.line);
  const from = Math.min(row.from + Math.max(d.column ?? 1, 1) - 1, row.to);
  let to = from + 1;
  if (d.end_line && d.end_column && d.end_line <= doc.lines) {
    const last = doc.line(d.end_line);
    to = Math.min(last.from + d.end_column - 1, last.to);
  }
  if (to <= from) to = Math.min(from + 1, doc.length);
  return { from, to };
}

function showProblems(list, view) {
  const problems = $("problems");
  problems.replaceChildren();
  for (const problem of list) {
    const where = `${problem.line}:${problem.column}`;
    const item = el(
      "li",
      { class: problem.severity },
      el(
        "button",
        {
          type: "button",
          onclick: () => {
            if (problem.same) {
              view.dispatch({ selection: { anchor: problem.from, head: problem.to }, scrollIntoView: true });
              view.focus();
            }
          },
        },
        el("span", { class: "code" }, problem.code),
        " ",
        el("span", { class: "where" }, problem.file === opened.path ? where : `${problem.file}:${where}`),
        " ",
        el("span", { class: "message" }, problem.message),
        problem.hint ? el("span", { class: "hint" }, ` (${problem.hint})`) : null,
      ),
    );
    problems.append(item);
  }
  $("problems-summary").textContent = list.length ? t("rules.count", { n: list.length }) : t("rules.clean");
}

async function lintSource(view) {
  if (!opened.path) return [];
  const text = view.state.doc.toString();
  const started = performance.now();
  const { status, data } = await apiJson("POST", "/api/check", { path: opened.path, text, lang });
  if (status !== 200) {
    $("rules-status").textContent = data.error || String(status);
    return [];
  }
  if (view.state.doc.toString() !== text) return []; // typed on since: the next run answers
  const doc = view.state.doc;
  const list = data.diagnostics.map((d) => {
    const same = d.file === opened.path && d.line > 0;
    const { from, to } = same ? offsets(doc, d) : { from: 0, to: 0 };
    return { ...d, same, from, to };
  });
  showProblems(list, view);
  // measured, for the record: the server's round trip, and the last keystroke to this answer
  document.body.dataset.lintMs = String(Math.round(performance.now() - started));
  if (lastEdit) document.body.dataset.editToDiagnosticMs = String(Math.round(performance.now() - lastEdit));
  return list
    .filter((d) => d.same)
    .map((d) => ({
      from: d.from,
      to: d.to,
      severity: d.severity === "warning" ? "warning" : "error",
      message: `${d.code} ${d.line}:${d.column} ${d.message}${d.hint ? ` (${d.hint})` : ""}`,
    }));
}

let opening = 0; // the latest openRules call: an older answer arriving late is dropped

async function openRules(path) {
  const call = ++opening;
  const { status, data } = await apiJson("GET", `/api/file?path=${encodeURIComponent(path)}`);
  if (call !== opening) return;
  if (status !== 200) {
    $("rules-status").textContent = data.error;
    return;
  }
  // the same file, unchanged, is already open (the page's first load and a select racing):
  // keep the editor and what was typed since, such as next year's number
  if (editorView && opened.path === data.path && opened.sha256 === data.sha256) return;
  opened = { path: data.path, sha256: data.sha256 };
  const year = /^year\s*=\s*(\d{4})/m.exec(data.text);
  $("rules-year").value = year ? String(Number(year[1]) + 1) : String(new Date().getFullYear());
  const state = cm.EditorState.create({
    doc: data.text,
    extensions: [
      cm.basicSetup,
      cm.StreamLanguage.define(cm.toml),
      cm.EditorView.cspNonce.of(nonce),
      cm.EditorView.contentAttributes.of({ "aria-label": t("rules.editor") }),
      cm.lintGutter(),
      cm.linter(lintSource, { delay: 300 }),
      cm.EditorView.updateListener.of((update) => { if (update.docChanged) lastEdit = performance.now(); }),
    ],
  });
  if (editorView) editorView.setState(state);
  else editorView = new cm.EditorView({ state, parent: $("editor") });
  $("rules-status").textContent = "";
  cm.forceLinting(editorView);
}

$("rules-file").addEventListener("change", () => openRules($("rules-file").value));

$("rules-save").addEventListener("click", async () => {
  const text = editorView.state.doc.toString();
  const { status, data } = await apiJson("PUT", "/api/file", { path: opened.path, text, sha256: opened.sha256 });
  if (status === 200) {
    opened.sha256 = data.sha256;
    $("rules-status").textContent = t("rules.saved");
  } else {
    $("rules-status").textContent = status === 409 ? t("rules.conflict") : data.error;
  }
});

$("rules-new-year").addEventListener("click", async () => {
  const year = Number($("rules-year").value);
  const old = opened.path;
  const years = old.match(/(19|20)\d\d/);
  // where it goes: the old year in the path replaced, or the year added to the name
  const target = years ? old.replace(years[0], String(year)) : old.replace(/\.toml$/, `-${year}.toml`);
  const { status, data } = await apiJson("POST", "/api/new-year", { path: old, target, year, lang });
  if (status !== 200) {
    $("rules-status").textContent = status === 409 ? t("rules.exists", { path: target }) : (data.error ?? JSON.stringify(data.diagnostics));
    return;
  }
  await loadFiles();
  $("rules-file").value = data.path;
  await openRules(data.path);
  $("rules-status").textContent = t("rules.created", { path: data.path });
});

// -- score: the table, the trace, what-if --------------------------------------------------------

let lastTrace = null;
let lastShown = null;
let lastRequest = null;
let overrides = {};

function schemeSpec(selectId, useEditorId) {
  const path = $(selectId).value;
  if (useEditorId && $(useEditorId).checked && editorView && opened.path) {
    return { path: opened.path, text: editorView.state.doc.toString() };
  }
  return { path };
}

let uploaded = null;
let factsName = null;

$("score-upload").addEventListener("change", () => {
  const file = $("score-upload").files[0];
  uploaded = null;
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    // a data: URL; the server takes the base64 after the comma (JSON bodies only)
    uploaded = { name: file.name, data: String(reader.result).split(",", 2)[1] ?? "" };
    $("score-upload").dataset.ready = "1";
  };
  reader.readAsDataURL(file);
});

function factsSpec() {
  if (uploaded) {
    const spec = { upload: uploaded };
    if (Object.keys(overrides).length) spec.overrides = overrides;
    return spec;
  }
  const spec = { path: $("score-facts").value };
  if ($("facts-pane").open && $("facts-text").value.trim()) {
    spec.text = $("facts-text").value;
    if (factsName) spec.path = factsName; // the name the trace gives the text
  }
  if (Object.keys(overrides).length) spec.overrides = overrides;
  return spec;
}

function showDiagnostics(target, diagnostics) {
  target.replaceChildren(
    ...diagnostics.map((d) => el("div", {}, `${d.file ?? ""}:${d.line}:${d.column} ${d.code} ${d.message}`)),
  );
}

async function runScore({ whatIf = false } = {}) {
  lastRequest = { scheme: schemeSpec("score-scheme", "score-use-editor"), facts: factsSpec(), lang };
  $("score-error").textContent = t("busy");
  const { status, data } = await apiJson("POST", "/api/score", lastRequest);
  $("score-error").textContent = "";
  if (status !== 200) {
    if (data.diagnostics) {
      showDiagnostics($("score-error"), data.diagnostics);
      prefillCase(null, data.diagnostics); // a unit the scheme refuses is a case too
    } else $("score-error").textContent = data.error;
    return;
  }
  if (!whatIf) baseline = data.trace;
  showScore(data.trace, data.shown);
  prefillCase(data.trace);
}

let baseline = null;

function gradeLabel(grade) {
  if (!grade) return "";
  return lang === "en" && grade.label_en ? grade.label_en : grade.label;
}

function rows(node, depth, out) {
  out.push({ node, depth });
  for (const child of node.children) rows(child, depth + 1, out);
  return out;
}

function prefillCase(trace, diagnostics = []) {
  // what the page shows is what the case will expect (a total and grade, or the codes of the
  // errors the facts raise); the fields can be changed first
  $("case").hidden = false;
  $("case-total").value = trace?.total ?? "";
  $("case-grade").value = trace?.grade?.label ?? "";
  $("case-errors").value = [...new Set(diagnostics.filter((d) => d.severity === "error").map((d) => d.code))].join(" ");
  const folder = $("score-scheme").value.replace(/[^/]*$/, "");
  const pack = [...$("case-pack").options].find((o) => o.value === `${folder}pack.toml`);
  if (pack) $("case-pack").value = pack.value;
  const changed = Object.entries(overrides).flatMap(([id, values]) => Object.entries(values).map(([k, v]) => `${id} ${k}=${v}`));
  const source = uploaded?.name ?? factsName ?? $("score-facts").value;
  $("case-name").value = factsName === "counterexample.toml"
    ? t("case.counterexample", { scheme: $("score-scheme").value })
    : changed.length ? `${source}: ${t("case.whatif", { values: changed.join(", ") })}` : source;
  $("case-status").textContent = "";
}

$("case-save").addEventListener("click", async () => {
  const body = {
    pack: $("case-pack").value,
    name: $("case-name").value,
    facts: factsSpec(),
    expect: {
      total: $("case-total").value.trim() || null,
      grade: $("case-grade").value.trim() || null,
      errors: $("case-errors").value.split(/[\s,，]+/).filter(Boolean),
    },
    lang,
  };
  $("case-status").textContent = t("busy");
  const { status, data } = await apiJson("POST", "/api/case", body);
  $("case-status").className = status === 200 ? "" : "fail";
  if (status !== 200) {
    if (status === 409) $("case-status").textContent = t("case.exists");
    else if (data.diagnostics) showDiagnostics($("case-status"), data.diagnostics);
    else $("case-status").textContent = data.error;
    return;
  }
  const result = data.result;
  const outcome = result?.passed ? t("case.passes") : t("case.fails", { why: (result?.messages ?? result?.failures ?? []).join("; ") });
  $("case-status").textContent = t("case.saved", { path: data.path, line: result?.line ?? "", outcome });
  $("case-status").className = result?.passed ? "pass" : "fail";
});

function showScore(trace, shown) {
  lastTrace = trace;
  lastShown = shown;
  $("score-result").hidden = false;
  $("total").textContent = trace.total;
  $("max").textContent = trace.max;
  $("grade").textContent = gradeLabel(trace.grade);
  const gap = trace.gap;
  $("gap").textContent = gap
    ? t("score.gap", {
        next: lang === "en" ? (trace.bands.find((b) => b.label === gap.next)?.label_en ?? gap.next) : gap.next,
        shortfall: gap.shortfall,
        rows: gap.improve.map((r) => `${r.id} +${r.lost}`).join("，"),
      })
    : t("score.top");
  const changed = Object.keys(overrides).length > 0 && baseline;
  $("whatif-note").replaceChildren();
  if (changed) {
    $("whatif-note").append(
      t("whatif.note", { before: baseline.total, after: trace.total, grade: gradeLabel(trace.grade) }),
      " ",
      el("button", { type: "button", onclick: () => { overrides = {}; runScore(); } }, t("whatif.reset")),
    );
  }
  const body = $("score-table").tBodies[0];
  body.replaceChildren();
  for (const { node, depth } of rows(trace.root, 0, [])) {
    if (depth === 0) continue;
    const levels = t("level");
    const button = el("button", { type: "button", class: "row-link", onclick: () => showTrace(node) }, node.id);
    const row = el(
      "tr",
      { class: `${node.kind} depth-${depth}`, "data-id": node.id },
      el("td", {}, levels[depth] ?? String(depth)),
      el("td", {}, button, node.name && node.name !== node.id ? el("div", { class: "name" }, node.name) : null),
      el("td", { class: "num" }, node.weight ?? ""),
      el("td", { class: "num" }, node.score ?? ""),
      el("td", { class: "num" }, node.lost ?? ""),
    );
    body.append(row);
  }
  const open = $("trace").dataset.id;
  const again = open && rows(trace.root, 0, []).find((r) => r.node.id === open);
  if (again) showTrace(again.node);
  else $("trace").replaceChildren();
}

function traceParts(node, shown, { whatIf = false } = {}) {
  // one row's explanation; its short numbers (4.772727…) are the server's (the library's
  // formatter), never worked out here
  const numbers = shown?.[node.id] ?? { steps: [], roundings: [], inputs: {} };
  const parts = [el("h2", {}, node.id), node.name ? el("p", { class: "name" }, node.name) : null];
  if (node.target) parts.push(el("p", {}, `${t("trace.target")}: ${node.target}`));
  if (node.actual) parts.push(el("p", {}, `${t("trace.actual")}: ${node.actual}`));
  if (node.formula) {
    const named = (node.steps ?? []).find((s) => s.formula === node.formula);
    const written = named && named.with !== node.formula ? `${node.formula} = ${named.with}` : node.formula;
    parts.push(el("h3", {}, t("trace.formula")), el("pre", { class: "formula" }, written));
  }
  const inputs = Object.entries(node.inputs ?? {});
  if (inputs.length) {
    parts.push(el("h3", {}, t("trace.inputs")));
    const list = el("table", { class: "inputs" });
    for (const [name, input] of inputs) {
      const cells = [
        el("th", { scope: "row" }, name),
        el("td", { class: "num" }, numbers.inputs[name] ?? input.value ?? ""),
        el("td", {}, input.text ?? ""),
        el("td", { class: "source" }, input.source ?? ""),
      ];
      if (whatIf && input.source === "facts") {
        const field = el("input", {
          type: "text",
          value: overrides[node.id]?.[name] ?? input.value,
          "aria-label": `${t("trace.whatif")} ${node.id} ${name}`,
          size: "8",
        });
        const go = () => {
          overrides = { ...overrides, [node.id]: { ...(overrides[node.id] ?? {}), [name]: field.value } };
          runScore({ whatIf: true });
        };
        field.addEventListener("keydown", (event) => { if (event.key === "Enter") go(); });
        cells.push(el("td", {}, field, el("button", { type: "button", onclick: go }, t("trace.whatif"))));
      }
      list.append(el("tr", {}, cells));
    }
    parts.push(list);
  }
  if (node.steps?.length) {
    parts.push(el("h3", {}, t("trace.steps")));
    const steps = el("ol", { class: "steps" });
    node.steps.forEach((step, i) => {
      const value = numbers.steps[i] ?? String(step.value);
      steps.append(el("li", {}, el("code", {}, step.expr), " = ", el("code", {}, step.with), " = ", el("strong", {}, value), step.exact && step.exact.includes("/") ? el("span", { class: "exact" }, ` (${step.exact})`) : null));
    });
    parts.push(steps);
  }
  if (node.roundings?.length) {
    parts.push(el("h3", {}, t("trace.roundings")));
    node.roundings.forEach((r, i) => {
      const rounding = numbers.roundings[i] ?? { before: r.before, after: r.after };
      parts.push(el("p", { class: "rounding" }, `${rounding.before} → ${rounding.after}`, el("span", { class: "mode" }, ` (${r.mode}, ${r.places})`)));
    });
  }
  if (node.notes?.length) {
    parts.push(el("h3", {}, t("trace.notes")));
    for (const note of node.notes) {
      const text = (lang === "en" ? note.message_en : null) ?? note.message ?? note.text ?? JSON.stringify(note);
      parts.push(el("p", {}, text));
    }
  }
  return parts.filter(Boolean);
}

function showTrace(node) {
  const box = $("trace");
  box.dataset.id = node.id;
  box.replaceChildren(...traceParts(node, lastShown, { whatIf: true }));
  for (const row of $("score-table").tBodies[0].rows) row.classList.toggle("selected", row.dataset.id === node.id);
}

$("score-run").addEventListener("click", () => { overrides = {}; runScore(); });
$("facts-pane").addEventListener("toggle", async () => {
  if ($("facts-pane").open && !$("facts-text").value) {
    const { status, data } = await apiJson("GET", `/api/file?path=${encodeURIComponent($("score-facts").value)}`);
    if (status === 200) $("facts-text").value = data.text;
  }
});
$("score-facts").addEventListener("change", () => {
  $("facts-text").value = "";
  $("facts-pane").open = false;
  uploaded = null;
  factsName = null;
  $("score-upload").value = "";
});

// -- diff -----------------------------------------------------------------------------------------

$("diff-run").addEventListener("click", async () => {
  const body = { old: { path: $("diff-old").value }, new: { path: $("diff-new").value }, lang };
  if ($("diff-facts").value) body.facts = { path: $("diff-facts").value };
  if ($("diff-units").value) body.units = { path: $("diff-units").value };
  const { status, data } = await apiJson("POST", "/api/diff", body);
  const out = $("diff-result");
  $("diff-error").textContent = "";
  out.replaceChildren();
  if (status !== 200) {
    if (data.diagnostics) showDiagnostics($("diff-error"), data.diagnostics);
    else $("diff-error").textContent = data.error;
    return;
  }
  if (data.what_if) {
    const w = data.what_if;
    out.append(
      el("h2", {}, t("diff.effect")),
      el("p", { class: "headline", id: "diff-total" }, t("diff.total", w.total), " · ", t("diff.grade", w.grade)),
    );
    const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, t("col.id")), el("th", {}, t("diff.before")), el("th", {}, t("diff.after")), el("th", {}, "Δ"))));
    const tbody = el("tbody");
    for (const s of w.scores) tbody.append(el("tr", {}, el("td", {}, s.id), el("td", { class: "num" }, s.old ?? "—"), el("td", { class: "num" }, s.new ?? "—"), el("td", { class: "num" }, s.delta ?? "")));
    table.append(tbody);
    out.append(table);
  }
  if (data.units) {
    const flips = data.units.filter((u) => u.grade_changes).length;
    out.append(el("h2", {}, t("diff.whose")), el("p", { id: "diff-flips" }, t("diff.flips", { n: flips })));
    const table = el("table", { id: "diff-units-table" }, el("thead", {}, el("tr", {}, el("th", {}, t("diff.unit")), el("th", {}, t("diff.before")), el("th", {}, t("diff.after")), el("th", {}, "Δ"), el("th", {}, t("diff.grades")))));
    const tbody = el("tbody");
    for (const u of data.units) {
      if (!u.total) {
        tbody.append(el("tr", { class: "fail" }, el("td", {}, u.unit), el("td", { colspan: "4" }, u.diagnostics.map((d) => `${d.code} ${d.message}`).join("; "))));
        continue;
      }
      const open = el("button", { type: "button", class: "row-link", onclick: () => openUnit(body, u.unit) }, u.unit);
      tbody.append(el("tr", { class: u.grade_changes ? "flip" : "" }, el("td", {}, open), el("td", { class: "num" }, u.total.old), el("td", { class: "num" }, u.total.new), el("td", { class: "num" }, u.total.delta), el("td", {}, `${u.grade.old} → ${u.grade.new}`)));
    }
    table.append(tbody);
    out.append(table, el("div", { id: "diff-unit", "aria-live": "polite" }));
  }
  out.append(el("h2", {}, t("diff.changes")));
  if (!data.changes.length) out.append(el("p", {}, t("diff.none")));
  const list = el("ul", { class: "changes" });
  for (const change of data.changes) {
    const where = change.key && change.key !== change.id ? `${change.id}.${change.key}` : change.id;
    const values = change.kind === "changed" ? `${change.old ?? ""} → ${change.new ?? ""}` : "";
    list.append(el("li", { class: change.kind }, el("code", {}, change.kind), " ", el("span", { class: "section" }, change.section), " ", el("strong", {}, where), " ", values));
  }
  out.append(list);
});

async function openUnit(request, unit) {
  // one unit under last year's scheme and this year's: both traces side by side
  const box = $("diff-unit");
  box.textContent = t("busy");
  const body = { old: request.old, new: request.new, units: request.units, unit, lang };
  const { status, data } = await apiJson("POST", "/api/diff-unit", body);
  box.replaceChildren();
  if (status !== 200) {
    if (data.diagnostics) showDiagnostics(box, data.diagnostics);
    else box.textContent = data.error;
    return;
  }
  const sides = [
    ["old", request.old.path, data.old],
    ["new", request.new.path, data.new],
  ];
  const scores = sides.map(([, , side]) => new Map(rows(side.trace.root, 0, []).map((r) => [r.node.id, r.node])));
  const ids = rows((data.new.trace.root), 0, []).slice(1).map((r) => r.node.id);
  for (const id of scores[0].keys()) if (id !== data.old.trace.root.id && !ids.includes(id)) ids.push(id);
  const changed = (id) => scores[0].get(id)?.score !== scores[1].get(id)?.score;
  const traces = sides.map(([side]) => el("div", { class: "unit-trace", "data-side": side }));
  const show = (id) => {
    sides.forEach(([, , side], i) => {
      const node = scores[i].get(id);
      traces[i].replaceChildren(...(node ? traceParts(node, side.shown) : [el("p", {}, t("none"))]));
    });
    for (const row of table.tBodies[0].rows) row.classList.toggle("selected", row.dataset.id === id);
  };
  const table = el("table", { id: "diff-unit-rows" }, el("thead", {}, el("tr", {}, el("th", {}, t("col.id")), el("th", {}, t("diff.before")), el("th", {}, t("diff.after")))));
  const tbody = el("tbody");
  for (const id of ids) {
    const [a, b] = [scores[0].get(id), scores[1].get(id)];
    const button = el("button", { type: "button", class: "row-link", onclick: () => show(id) }, id);
    tbody.append(el("tr", { "data-id": id, class: changed(id) ? "moved" : "" }, el("td", {}, button), el("td", { class: "num" }, a?.score ?? "—"), el("td", { class: "num" }, b?.score ?? "—")));
  }
  table.append(tbody);
  const heads = sides.map(([side, path, doc]) =>
    el("div", { class: "unit-head", "data-side": side },
      el("h3", {}, `${t(side === "old" ? "diff.old" : "diff.new")}: ${path}`),
      el("p", {}, `${t("score.total")} `, el("strong", {}, doc.trace.total), ` · ${t("score.grade")} `, el("strong", {}, gradeLabel(doc.trace.grade)))));
  box.append(
    el("h2", {}, t("diff.both", { unit })),
    el("div", { class: "side-by-side" }, ...heads),
    table,
    el("div", { class: "side-by-side" }, ...traces),
  );
  const first = ids.find((id) => changed(id) && !scores[1].get(id)?.children?.length) ?? ids.find(changed);
  if (first) show(first);
}

// -- tests and prove ------------------------------------------------------------------------------

$("tests-run").addEventListener("click", async () => {
  const out = $("tests-result");
  out.textContent = t("busy");
  const { status, data } = await apiJson("POST", "/api/test", { pack: $("tests-pack").value.replace(/\/?pack\.toml$/, ""), lang });
  out.replaceChildren();
  if (status !== 200) {
    if (data.diagnostics) showDiagnostics(out, data.diagnostics);
    else out.textContent = data.error;
    return;
  }
  const failed = data.filter((c) => !c.passed).length;
  out.append(el("p", { role: "status", id: "tests-summary" }, t("tests.summary", { passed: data.length - failed, failed })));
  const table = el("table");
  for (const c of data) {
    table.append(el("tr", { class: c.passed ? "pass" : "fail" }, el("td", {}, c.passed ? t("tests.pass") : t("tests.fail")), el("td", {}, c.case), el("td", {}, `${c.file}:${c.line}`), el("td", {}, (c.messages ?? c.failures).join("; "))));
  }
  out.append(table);
});

$("prove-run").addEventListener("click", async () => {
  const out = $("prove-result");
  out.textContent = t("busy");
  const scheme = schemeSpec("prove-scheme", "prove-use-editor");
  const { status, data } = await apiJson("POST", "/api/prove", { scheme, examples: 200, lang });
  out.replaceChildren();
  if (status !== 200) {
    if (data.diagnostics) showDiagnostics(out, data.diagnostics);
    else out.textContent = data.error;
    return;
  }
  const p = data.properties;
  if (p.passed) {
    out.append(el("p", { class: "pass" }, t("prove.passed", { n: p.examples })));
    return;
  }
  out.append(el("p", { class: "fail" }, t("prove.failed", { n: p.examples })), el("pre", {}, (p.messages ?? [p.message]).join("\n")));
  if (p.counterexample) out.append(el("p", {}, t("prove.counterexample")), el("pre", {}, p.counterexample));
  if (data.counterexample) {
    out.append(
      el("button", {
        type: "button",
        onclick: () => {
          $("score-scheme").value = scheme.path;
          $("score-use-editor").checked = Boolean(scheme.text);
          $("facts-pane").open = true;
          $("facts-text").value = data.counterexample;
          factsName = "counterexample.toml";
          overrides = {};
          showTab("score");
          runScore();
        },
      }, t("prove.open")),
    );
  }
});

// -- audit ----------------------------------------------------------------------------------------

$("audit-run").addEventListener("click", async () => {
  const out = $("audit-result");
  out.textContent = t("busy");
  const body = { scheme: { path: $("audit-scheme").value }, report: { path: $("audit-report").value }, lang };
  const { status, data } = await apiJson("POST", "/api/audit", body);
  out.replaceChildren();
  if (status !== 200) {
    if (data.diagnostics) showDiagnostics(out, data.diagnostics);
    else out.textContent = data.error;
    return;
  }
  const values = { n: data.consistent ? data.checked : data.findings.length, total: data.recomputed.total, grade: data.recomputed.grade };
  out.append(el("p", { id: "audit-summary", class: data.consistent ? "pass" : "fail" }, t(data.consistent ? "audit.ok" : "audit.bad", values)));
  if (!data.findings.length) return;
  const table = el("table", { id: "audit-findings" }, el("thead", {}, el("tr", {}, el("th", {}, t("col.id")), el("th", {}, t("audit.published")), el("th", {}, t("audit.expected")), el("th", {}, t("audit.difference")), el("th", {}, t("audit.reason")))));
  const tbody = el("tbody");
  for (const f of data.findings) {
    const where = f.file ? `${f.file}:${f.line}` : "";
    tbody.append(el("tr", {}, el("td", {}, f.id, el("div", { class: "name" }, where)), el("td", { class: "num" }, f.published ?? ""), el("td", { class: "num" }, f.expected ?? ""), el("td", { class: "num" }, f.difference ?? ""), el("td", {}, (lang === "zh" ? f.reason_zh : f.reason) ?? "")));
  }
  table.append(tbody);
  out.append(table);
});

// -- export ---------------------------------------------------------------------------------------

for (const button of document.querySelectorAll("[data-export]")) {
  button.addEventListener("click", async () => {
    const body = {
      format: button.dataset.export,
      scheme: { path: $("export-scheme").value },
      facts: { path: $("export-facts").value },
      lang,
    };
    $("export-status").textContent = t("busy");
    const { status, answer } = await api("POST", "/api/export", body);
    if (status !== 200) {
      const data = await answer.json();
      $("export-status").textContent = data.error ?? JSON.stringify(data.diagnostics ?? data);
      return;
    }
    const disposition = answer.headers.get("content-disposition") ?? "";
    const name = decodeURIComponent((/filename\*=UTF-8''([^;]+)/.exec(disposition) ?? [])[1] ?? "download");
    const url = URL.createObjectURL(await answer.blob());
    const link = el("a", { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    $("export-status").textContent = t("export.done", { name });
  });
}

// -- start ----------------------------------------------------------------------------------------

applyLanguage();
cm = await import(bundle);
await loadFiles();
if ($("rules-file").value) await openRules($("rules-file").value);
document.body.dataset.ready = "1";
