// Build the CodeMirror bundle the workbench page loads, and write it, content-hashed, into the
// package: src/perfrules/serve/static/vendor/codemirror.<sha256[:12]>.js, with the licences of
// everything inside it. Run by developers only (npm ci && npm run build); the result is committed,
// so neither CI nor users need Node. esbuild's output is deterministic: a rebuild must give the
// same bytes (bundle.sha256 records them).
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const vendor = join(here, "..", "src", "perfrules", "serve", "static", "vendor");

const out = await build({
  entryPoints: [join(here, "editor.mjs")],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  legalComments: "none",
  write: false,
});
const bytes = out.outputFiles[0].contents;
const digest = createHash("sha256").update(bytes).digest("hex");
for (const name of readdirSync(vendor)) {
  if (name.startsWith("codemirror.") && name.endsWith(".js")) rmSync(join(vendor, name));
}
const name = `codemirror.${digest.slice(0, 12)}.js`;
writeFileSync(join(vendor, name), bytes);
writeFileSync(join(here, "bundle.sha256"), `${digest}  ${name}\n`);

// The packages carry no @license comments: collect their LICENSE files instead.
const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8"));
let licences = "Third-party software in " + name + " (bundled with esbuild)\n";
for (const [path, info] of Object.entries(lock.packages).sort()) {
  if (!path || info.dev === undefined || path.includes("esbuild")) continue;
  const folder = join(here, path);
  const file = ["LICENSE", "LICENSE.md", "LICENSE.txt"].map((f) => join(folder, f)).find(existsSync);
  licences += `\n== ${path.replace(/^node_modules\//, "")} ${info.version} (${info.license}) ==\n`;
  licences += file ? readFileSync(file, "utf8") : `${info.license}\n`;
}
writeFileSync(join(vendor, "THIRD_PARTY_LICENSES"), licences);
console.log(`${name} ${bytes.length} bytes sha256 ${digest}`);
