// What the workbench page imports from CodeMirror: one ES module, bundled by build.mjs.
export { basicSetup } from "codemirror";
export { EditorView, keymap } from "@codemirror/view";
export { EditorState, EditorSelection } from "@codemirror/state";
export { StreamLanguage } from "@codemirror/language";
export { toml } from "@codemirror/legacy-modes/mode/toml";
export { linter, lintGutter, forceLinting, setDiagnostics } from "@codemirror/lint";
