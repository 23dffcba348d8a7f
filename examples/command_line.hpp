#pragma once
// The examples' option reader: `--name value` pairs and flags, read one option at a time.
//
//   command_line args(argc, argv, "train", usage);
//   while (args.next()) {
//       if (args.option() == "--steps") o.steps = args.count();
//       else if (args.option() == "--lr") o.lr = args.non_negative();
//       ...
//   }
//
// A missing or malformed value prints "<program>: <option> <what was expected>, got '<value>'" and calls usage(2).
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

class command_line {
public:
    command_line(int argc, char** argv, const char* program, void (*usage)(int))
        : argc_(argc), argv_(argv), program_(program), usage_(usage) {}

    // Moves to the next option; false after the last.
    bool next() {
        if (++index_ >= argc_) return false;
        option_ = argv_[index_];
        return true;
    }
    const std::string& option() const { return option_; }

    // The value after the current option.
    std::string value() {
        if (index_ + 1 >= argc_) fail(option_ + " needs a value");
        return argv_[++index_];
    }
    // The value as a number, any sign.
    double number() {
        const std::string text = value();
        char* end = nullptr;
        const double x = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0') fail(option_ + " expects a number, got '" + text + "'");
        return x;
    }
    // The value as a number >= 0.
    double non_negative() {
        const std::string text = value();
        char* end = nullptr;
        const double x = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || x < 0)
            fail(option_ + " expects a non-negative number, got '" + text + "'");
        return x;
    }
    // The value as a whole number >= 0.
    std::size_t count() {
        const std::string text = value();
        char* end = nullptr;
        const double x = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !(x >= 0) || x >= 0x1p64 || x != std::floor(x))
            fail(option_ + " expects a whole number >= 0, got '" + text + "'");
        return static_cast<std::size_t>(x);
    }

    [[noreturn]] void fail(const std::string& why) const {
        std::fprintf(stderr, "%s: %s\n", program_, why.c_str());
        usage_(2);
        std::exit(2);
    }

private:
    int argc_;
    char** argv_;
    const char* program_;
    void (*usage_)(int);
    int index_ = 0;
    std::string option_;
};
