#include "lnd_simulator.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>

namespace scb::test {

lnd_simulator::lnd_simulator(std::filesystem::path folder) : folder_(std::move(folder)) {
    std::filesystem::create_directories(folder_);
}

void lnd_simulator::write_temp(const std::string& content) const {
    const auto temp = this->temp();
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + temp.string());
    for (std::size_t done = 0; done < content.size();) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n <= 0) {
            ::close(fd);
            throw std::runtime_error("write failed");
        }
        done += static_cast<std::size_t>(n);
    }
    ::fsync(fd);
    ::close(fd);
}

void lnd_simulator::rename_temp() const { std::filesystem::rename(temp(), file()); }

std::string lnd_simulator::content(int n, std::size_t size) {
    std::string s = "lnd-scb-version-" + std::to_string(n) + ":";
    while (s.size() < size) s += static_cast<char>('a' + (s.size() * 7 + static_cast<std::size_t>(n)) % 26);
    return s;
}

}  // namespace scb::test
