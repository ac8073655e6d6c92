// AtomicFile: writes a file so that readers see either the old contents or the complete new ones, never a
// torn mix: data goes to a temporary file in the same folder, which is flushed, fsync'ed and renamed over
// the target (rename is atomic within a file system), then the folder is fsync'ed.
// Every save in latent (safetensors, .npy, PNG, WAV, tokenizers) goes through it.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.hpp"

namespace latent {

/// Usage (`who` starts every error message, e.g. "save_npy"):
///   AtomicFile f(path, "save_npy");
///   f.write(bytes);   or   std::fwrite(..., f.file())  (e.g. for libpng's png_init_io)
///   f.commit();       // the target now holds the new contents
/// Destroying an AtomicFile that was not committed (an exception, an early return) removes the temporary
/// file and leaves the target untouched. A process killed before commit() leaves a hidden temporary
/// "<folder>/.<name>.tmp-<pid>-<n>" behind, which nothing reads; the target keeps its previous contents.
class AtomicFile {
 public:
  AtomicFile(const std::filesystem::path& target, std::string who) : target_(target), who_(std::move(who)) {
    const std::filesystem::path folder = target_.has_parent_path() ? target_.parent_path() : ".";
    static std::atomic<unsigned> counter{0};
    // O_EXCL with a name unique to this process and call: no other writer can share the temporary, and
    // (unlike mkstemp's 0600) the new file gets the usual 0666 & ~umask permissions.
    for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
      std::string name = ".";  // += only: g++ 12 -O3 warns falsely on "literal" + std::string&&
      name += target_.filename().string();
      name += ".tmp-";
      name += std::to_string(::getpid());
      name += '-';
      name += std::to_string(counter++);
      temp_ = folder / name;
      fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && errno != EEXIST) break;
    }
    if (fd_ < 0) fail("cannot create a temporary file " + temp_.string() + " next to it");
    file_ = ::fdopen(fd_, "wb");
    if (!file_) {
      const int e = errno;
      ::close(fd_);
      ::unlink(temp_.c_str());
      errno = e;
      fail("cannot open a stream on " + temp_.string());
    }
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (file_) std::fclose(file_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  /// The temporary file's stream, for writers that want a FILE* (do not close it).
  std::FILE* file() const noexcept { return file_; }
  const std::filesystem::path& temp_path() const noexcept { return temp_; }

  void write(const void* data, std::size_t size) {
    if (size && std::fwrite(data, 1, size, file_) != size) fail("write to " + temp_.string() + " failed");
  }
  void write(std::span<const std::byte> bytes) { write(bytes.data(), bytes.size()); }
  void write(const std::string& text) { write(text.data(), text.size()); }

  /// Flushes the data to the disk and renames the temporary file over the target.
  void commit() {
    if (std::fflush(file_) != 0) fail("flushing " + temp_.string() + " failed");
    if (::fsync(fd_) != 0) fail("fsync of " + temp_.string() + " failed");
    const int closed = std::fclose(file_);
    file_ = nullptr;
    if (closed != 0) fail("closing " + temp_.string() + " failed");
    if (std::rename(temp_.c_str(), target_.c_str()) != 0) fail("cannot rename " + temp_.string() + " to it");
    committed_ = true;
    // Make the rename itself durable; a folder that cannot be opened or synced only loses durability.
    const std::filesystem::path folder = target_.has_parent_path() ? target_.parent_path() : ".";
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(who_ + ": " + target_.string() + ": " + what + " (" + std::strerror(errno) + ")");
  }

  std::filesystem::path target_, temp_;
  std::string who_;
  int fd_ = -1;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

/// Writes `bytes` to `target` atomically (see AtomicFile).
inline void write_file_atomically(const std::filesystem::path& target, std::span<const std::byte> bytes,
                                  const std::string& who) {
  AtomicFile f(target, who);
  f.write(bytes);
  f.commit();
}

}  // namespace latent
