// tools/flitc/compilation.h: loads a .flit file and its imports, checks them.
//
// Imports are resolved relative to the importing file's directory first,
// then in each import directory (-I) in order. Each file is loaded once
// however often it is imported; an import cycle is an error. Imported files
// are checked before the files that import them.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ir.h"

namespace flitc {

class Compilation {
 public:
  Compilation(std::vector<std::string> import_dirs, Diagnostics& diag)
      : import_dirs_(std::move(import_dirs)), diag_(diag) {}

  // Loads, parses and checks `path` and everything it imports. Returns the
  // checked schema, or nullptr after reporting errors.
  const Schema* load(const std::string& path);

  // Every file read so far, in load order (for the depfile).
  const std::vector<std::string>& files_read() const { return files_read_; }

 private:
  Schema* load_file(const std::string& path, std::vector<std::string>& stack);
  std::string resolve_import(const std::string& importer, const std::string& name) const;

  std::vector<std::string> import_dirs_;
  Diagnostics& diag_;
  std::vector<std::unique_ptr<SourceFile>> sources_;
  std::map<std::string, std::unique_ptr<Schema>> schemas_;  // by canonical path
  std::set<std::string> failed_;                            // files that did not compile
  static constexpr size_t kMaxImportDepth = 256;
  std::vector<std::string> files_read_;
};

}  // namespace flitc
