// flitc: the flit IDL compiler.
//
//   flitc -o OUT_DIR [-I DIR]... [--depfile FILE] input.flit
//
// Writes OUT_DIR/input.flit.h (messages) and OUT_DIR/input.flit.rpc.h
// (services). Exit status 0 on success, 1 after errors (printed as
// file:line:col: error: ... with the source line and a caret), 2 for a bad
// command line.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "compilation.h"
#include "cpp_backend.h"

#ifndef FLITC_VERSION
#define FLITC_VERSION "unknown"
#endif

namespace {

const char kUsage[] =
    "usage: flitc [options] FILE.flit\n"
    "\n"
    "Compiles a flit interface description into C++:\n"
    "  DIR/FILE.flit.h      messages: views, builders, plain structs\n"
    "  DIR/FILE.flit.rpc.h  services: client stubs and server skeletons\n"
    "\n"
    "options:\n"
    "  -o, --out-dir DIR      write the headers to DIR (default: .)\n"
    "  -I, --import-path DIR  also look for imported files in DIR (repeatable;\n"
    "                         imports are first looked up next to the importer)\n"
    "  --depfile FILE         write a Makefile-style dependency file naming\n"
    "                         every .flit file read (for ninja/make)\n"
    "  --check                parse and check only; write nothing\n"
    "  -h, --help             show this help\n"
    "  --version              show the version\n"
    "\n"
    "The language: docs/idl.md. The encoding: docs/wire-format.md (Messages).\n";

// Escapes a path for a Makefile-style depfile.
std::string dep_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '#' || c == '\\') out += '\\';
    if (c == '$') out += '$';
    out += c;
  }
  return out;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "flitc: error: cannot write '%s'\n", path.c_str());
    return false;
  }
  return true;
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "flitc: error: %s\n(run 'flitc --help' for usage)\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = ".", depfile, input;
  std::vector<std::string> import_dirs;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= argc) return false;
      *dst = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("flitc %s\n", FLITC_VERSION);
      return 0;
    } else if (a == "-o" || a == "--out-dir") {
      if (!value(&out_dir)) return usage_error(a + " needs a directory");
    } else if (a == "-I" || a == "--import-path") {
      std::string d;
      if (!value(&d)) return usage_error(a + " needs a directory");
      import_dirs.push_back(d);
    } else if (a.rfind("-I", 0) == 0 && a.size() > 2) {
      import_dirs.push_back(a.substr(2));
    } else if (a == "--depfile") {
      if (!value(&depfile)) return usage_error("--depfile needs a file name");
    } else if (a == "--check") {
      check_only = true;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("unknown option '" + a + "'");
    } else if (!input.empty()) {
      return usage_error("one input file at a time ('" + input + "' and '" + a + "')");
    } else {
      input = a;
    }
  }
  if (input.empty()) return usage_error("no input file");

  flitc::Diagnostics diag;
  flitc::Compilation comp(import_dirs, diag);
  const flitc::Schema* schema = comp.load(input);
  if (schema == nullptr || diag.error_count() != 0) {
    std::fprintf(stderr, "flitc: %d error%s\n", diag.error_count(),
                 diag.error_count() == 1 ? "" : "s");
    return 1;
  }
  if (check_only) return 0;

  std::string stem = flitc::output_stem(input);
  std::string msg_path = (std::filesystem::path(out_dir) / (stem + ".flit.h")).string();
  std::string rpc_path = (std::filesystem::path(out_dir) / (stem + ".flit.rpc.h")).string();
  if (!write_file(msg_path, flitc::generate_messages_header(*schema)) ||
      !write_file(rpc_path, flitc::generate_rpc_header(*schema))) {
    return 1;
  }
  if (!depfile.empty()) {
    std::string d = dep_escape(msg_path) + " " + dep_escape(rpc_path) + ":";
    for (const auto& f : comp.files_read()) {
      d += ' ';  // (" " + ... here trips GCC 12's -Wrestrict at -O3: a false positive)
      d += dep_escape(f);
    }
    d += "\n";
    if (!write_file(depfile, d)) return 1;
  }
  return 0;
}
