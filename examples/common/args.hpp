// Shared by the example programs (not part of the library): a small command-line parser with the flags every
// example has (--help, --seed, --steps/--epochs, --out, --threads), the command line for provenance, and the
// location of the shipped datasets in data/.
#pragma once

#include <latent/latent.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace latent::examples {

/// Flags bound to variables: `args.option("--steps", cfg.steps, "training steps")`, then `args.parse(argc, argv)`.
/// The defaults shown by --help are the variables' values when they are bound. A bad or unknown flag prints
/// one line naming it and exits with status 2; --help prints the usage and exits with 0.
class Args {
 public:
  Args(std::string program, std::string description)
      : program_(std::move(program)), description_(std::move(description)) {}

  Args& option(std::string name, std::string& value, std::string help) {
    return add(std::move(name), "TEXT", escaped(value), std::move(help), [&value](const std::string& s) { value = s; });
  }
  Args& option(std::string name, double& value, std::string help) {
    return add(std::move(name), "X", shortest(value), std::move(help),
               [this, name, &value](const std::string& s) { value = number<double>(name, s); });
  }
  Args& option(std::string name, float& value, std::string help) {
    return add(std::move(name), "X", shortest(value), std::move(help),
               [this, name, &value](const std::string& s) { value = static_cast<float>(number<double>(name, s)); });
  }
  Args& option(std::string name, int& value, std::string help) {
    return add(std::move(name), "N", std::to_string(value), std::move(help),
               [this, name, &value](const std::string& s) { value = static_cast<int>(number<long long>(name, s)); });
  }
  Args& option(std::string name, std::int64_t& value, std::string help) {
    return add(std::move(name), "N", std::to_string(value), std::move(help),
               [this, name, &value](const std::string& s) { value = number<long long>(name, s); });
  }
  Args& option(std::string name, std::uint64_t& value, std::string help) {
    return add(std::move(name), "N", std::to_string(value), std::move(help), [this, name, &value](const std::string& s) {
      const long long v = number<long long>(name, s);
      if (v < 0) fail(name + " must be non-negative, got " + s);
      value = static_cast<std::uint64_t>(v);
    });
  }
  /// A switch without a value: present means true.
  Args& flag(std::string name, bool& value, std::string help) {
    flags_.push_back({std::move(name), "", value ? "on" : "off", std::move(help), [&value](const std::string&) {
                        value = true;
                      }, false});
    return *this;
  }

  /// --seed, --threads and --out, bound together (every example has them).
  Args& common(std::uint64_t& seed, int& threads, std::string& out) {
    option("--seed", seed, "random seed (same seed, same run)");
    option("--threads", threads, "worker threads for the math");
    option("--out", out, "folder for everything the run writes");
    return *this;
  }

  /// The transformer's shape flags of the autoregressive examples: --layers, --heads, --embd.
  Args& transformer(std::int64_t& layers, std::int64_t& heads, std::int64_t& embd) {
    option("--layers", layers, "transformer blocks");
    option("--heads", heads, "attention heads");
    option("--embd", embd, "embedding width");
    return *this;
  }

  /// The sampling flags of the autoregressive examples, bound to `sampling`; `what` names a token ("tokens",
  /// "characters", "levels") in the help text.
  Args& sampling(latent::models::SamplingOptions& sampling, const std::string& what) {
    option("--temperature", sampling.temperature, "sampling temperature");
    option("--top-k", sampling.top_k, "keep the k most likely " + what + " (0: all)");
    option("--top-p", sampling.top_p, "nucleus sampling threshold (1: off)");
    option("--min-p", sampling.min_p, "drop " + what + " below min_p times the top probability (0: off)");
    option("--repetition-penalty", sampling.repetition_penalty, "CTRL repetition penalty (1: off)");
    return *this;
  }

  void parse(int argc, char** argv) {
    command_line_.clear();
    for (int i = 0; i < argc; ++i) command_line_ += (i ? " " : "") + std::string(argv[i]);
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        print_help(std::cout);
        std::exit(0);
      }
      std::string inline_value;
      bool has_inline = false;
      if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg.resize(eq);
        has_inline = true;
      }
      Flag* f = find(arg);
      if (!f) fail("unknown argument '" + arg + "' (see --help)");
      if (!f->takes_value) {
        if (has_inline) fail(arg + " takes no value");
        f->set("");
        continue;
      }
      if (!has_inline) {
        if (i + 1 >= argc) fail(arg + " needs a value (" + f->metavar + ")");
        inline_value = argv[++i];
      }
      f->set(inline_value);
    }
  }

  /// The command line as typed, for provenance (PNG text chunks, checkpoint metadata).
  const std::string& command_line() const noexcept { return command_line_; }

  void print_help(std::ostream& os) const {
    os << "usage: " << program_ << " [options]\n" << description_ << "\n\noptions:\n";
    for (const auto& f : flags_) {
      std::string left = "  " + f.name + (f.takes_value ? " " + f.metavar : "");
      if (left.size() < 26) left.resize(26, ' ');
      else left += "  ";
      os << left << f.help;
      if (!f.shown_default.empty()) os << " [" << f.shown_default << "]";
      os << "\n";
    }
    os << "  --help                  this text\n";
  }

  [[noreturn]] void fail(const std::string& message) const {
    std::cerr << program_ << ": " << message << "\n";
    std::exit(2);
  }

 private:
  struct Flag {
    std::string name, metavar, shown_default, help;
    std::function<void(const std::string&)> set;
    bool takes_value = true;
  };

  Args& add(std::string name, std::string metavar, std::string shown_default, std::string help,
            std::function<void(const std::string&)> set) {
    if (name.rfind("--", 0) != 0) fail("flag '" + name + "' must start with --");
    flags_.push_back({std::move(name), std::move(metavar), std::move(shown_default), std::move(help), std::move(set), true});
    return *this;
  }

  Flag* find(const std::string& name) {
    for (auto& f : flags_)
      if (f.name == name) return &f;
    return nullptr;
  }

  /// A default as it would be typed: "\n" for a newline (gpt_text's prompt), so that --help stays one line a flag.
  static std::string escaped(const std::string& v) {
    std::string s;
    for (char c : v) s += c == '\n' ? "\\n" : c == '\t' ? "\\t" : std::string(1, c);
    return s;
  }

  static std::string shortest(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  }

  template <class N>
  N number(const std::string& name, const std::string& text) const {
    try {
      std::size_t used = 0;
      N v;
      if constexpr (std::is_floating_point_v<N>) v = static_cast<N>(std::stod(text, &used));
      else v = static_cast<N>(std::stoll(text, &used));
      if (used == text.size()) return v;
    } catch (const std::exception&) {
    }
    fail(name + " expects a number, got '" + text + "'");
  }

  std::string program_, description_, command_line_;
  std::vector<Flag> flags_;
};

/// A file or folder of the shipped datasets, e.g. data_path("mnist-10k/mnist10k-images-idx3-ubyte"). Looks in
/// $LATENT_DATA_DIR, then ./data, then the source tree the example was built from; throws IoError naming all three.
inline std::filesystem::path data_path(std::string_view relative) {
  std::vector<std::filesystem::path> roots;
  if (const char* env = std::getenv("LATENT_DATA_DIR"); env && *env) roots.emplace_back(env);
  roots.emplace_back("data");
#ifdef LATENT_EXAMPLES_DATA_DIR
  roots.emplace_back(LATENT_EXAMPLES_DATA_DIR);
#endif
  std::string tried;
  for (const auto& root : roots) {
    auto p = root / std::filesystem::path(relative);
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return p;
    tried += (tried.empty() ? "" : ", ") + p.string();
  }
  throw IoError("data: cannot find '" + std::string(relative) + "' (tried " + tried +
                "); set LATENT_DATA_DIR to the project's data/ folder");
}

/// Creates the output folder (and parents); throws IoError naming it when that fails.
inline std::filesystem::path make_out_dir(const std::string& out) {
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  LATENT_CHECK(!ec, IoError, out + ": cannot create the output folder: " + ec.message());
  return std::filesystem::path(out);
}

/// The body of main() after parsing: sets the thread count and runs `body`; a latent::Error becomes one line
/// "program: message" on stderr and exit status 1.
template <class Body>
int run_reporting_errors(const std::string& program, int threads, Body&& body) {
  try {
    set_num_threads(threads);
    return body();
  } catch (const Error& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace latent::examples
