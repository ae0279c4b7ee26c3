#include "compilation.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "checker.h"
#include "lexer.h"
#include "parser.h"

namespace flitc {

namespace fs = std::filesystem;

const Schema* Compilation::load(const std::string& path) {
  // Failures are remembered for one load only: the import depth limit
  // depends on the path a file is reached by.
  failed_.clear();
  std::vector<std::string> stack;
  return load_file(path, stack);
}

std::string Compilation::resolve_import(const std::string& importer,
                                        const std::string& name) const {
  std::error_code ec;
  fs::path local = fs::path(importer).parent_path() / name;
  if (fs::is_regular_file(local, ec)) return local.lexically_normal().string();
  for (const auto& dir : import_dirs_) {
    fs::path p = fs::path(dir) / name;
    if (fs::is_regular_file(p, ec)) return p.lexically_normal().string();
  }
  return {};
}

Schema* Compilation::load_file(const std::string& path, std::vector<std::string>& stack) {
  std::error_code ec;
  std::string key = fs::weakly_canonical(fs::path(path), ec).string();
  if (ec) key = path;
  auto it = schemas_.find(key);
  if (it != schemas_.end()) return it->second.get();
  // A file that failed is reported once: read again from every file that
  // imports it, a diamond of imports would repeat its errors, and a deep
  // lattice of them would take exponential time.
  if (failed_.count(key) != 0) return nullptr;
  auto fail = [&]() -> Schema* {
    failed_.insert(key);
    return nullptr;
  };

  std::ostringstream text;
  {
    std::ifstream in(path, std::ios::binary);  // closed before the imports are read
    if (!in) {
      diag_.error("cannot read '" + path + "'");
      return fail();
    }
    text << in.rdbuf();
  }
  files_read_.push_back(path);
  sources_.push_back(std::make_unique<SourceFile>(path, text.str()));
  const SourceFile& src = *sources_.back();

  std::vector<Token> tokens;
  if (!lex(src, diag_, &tokens)) return fail();
  auto schema = std::make_unique<Schema>();
  if (!parse(src, tokens, diag_, schema.get())) return fail();

  stack.push_back(key);
  bool ok = true;
  for (auto& imp : schema->imports) {
    // The path goes into the generated header's #include as written.
    if (std::any_of(imp.path.begin(), imp.path.end(), [](char ch) {
          const auto u = static_cast<unsigned char>(ch);
          return u < 0x20 || u == 0x7f || ch == '"' || ch == '\\';
        })) {
      diag_.error(imp.loc, "import path may not contain quotes, backslashes or control characters");
      ok = false;
      continue;
    }
    std::string file = resolve_import(path, imp.path);
    if (file.empty()) {
      diag_.error(imp.loc, "cannot find imported file \"" + imp.path +
                               "\" (searched next to this file and in -I directories)");
      ok = false;
      continue;
    }
    std::string ikey = fs::weakly_canonical(fs::path(file), ec).string();
    if (stack.size() >= kMaxImportDepth) {
      diag_.error(imp.loc,
                  "imports nested more than " + std::to_string(kMaxImportDepth) + " files deep");
      ok = false;
      continue;
    }
    if (std::find(stack.begin(), stack.end(), ikey) != stack.end()) {
      diag_.error(imp.loc,
                  "import cycle: \"" + imp.path + "\" (directly or indirectly) imports " + path);
      ok = false;
      continue;
    }
    imp.schema = load_file(file, stack);
    if (imp.schema == nullptr) ok = false;
  }
  stack.pop_back();
  if (!ok || !check(*schema, diag_)) return fail();
  Schema* raw = schema.get();
  schemas_[key] = std::move(schema);
  return raw;
}

}  // namespace flitc
