// kiln bulk emulator harness: drives a Verilated kiln_top with whole arrays of samples.
//
// Built by kiln.sim (sw/kiln/sim/_emulator.py) into a shared library with a C ABI, one per
// design. The stream geometry comes in as compile-time defines:
//   KILN_IN_ELEMS, KILN_IN_WIDTH, KILN_IN_SIGNED, KILN_OUT_ELEMS, KILN_OUT_WIDTH, KILN_OUT_SIGNED
// Element i of a beat sits at bits [i*W +: W] (little-endian), as W-bit two's complement when
// signed. Codes cross the ABI as int64, one row of *_ELEMS per sample.
//
// A session owns one model instance: kiln_emu_open resets it, kiln_emu_stream pushes input
// beats and pulls output beats for a bounded number of cycles, kiln_emu_close frees it. With
// gap probabilities of zero the input is offered back to back (tvalid high whenever samples
// remain) and tready is held high; otherwise a seeded generator drops tvalid (only between
// beats: a beat once offered stays offered until accepted, as AXI4-Stream requires) and
// tready, and every sample still comes out, in order.
//
// KILN_IN_BEATS (default 1) is the number of beats in an input frame (io_stream: pixels);
// above 1, s_axis_tlast marks the last beat of every frame, else the last beat of a call.

#include "Vkiln_top.h"
#include "verilated.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#if !defined(KILN_IN_ELEMS) || !defined(KILN_IN_WIDTH) || !defined(KILN_IN_SIGNED) \
    || !defined(KILN_OUT_ELEMS) || !defined(KILN_OUT_WIDTH) || !defined(KILN_OUT_SIGNED)
#error "kiln_emu.cpp needs the KILN_IN_* and KILN_OUT_* geometry defines"
#endif

#ifndef KILN_IN_BEATS
#define KILN_IN_BEATS 1
#endif

namespace {

constexpr int kInBits = KILN_IN_ELEMS * KILN_IN_WIDTH;
constexpr int kOutBits = KILN_OUT_ELEMS * KILN_OUT_WIDTH;
// At least two words so that a 33..64-bit port (QData) reads words [0] and [1].
constexpr int kInWords = (kInBits + 31) / 32 < 2 ? 2 : (kInBits + 31) / 32;
constexpr int kOutWords = (kOutBits + 31) / 32 < 2 ? 2 : (kOutBits + 31) / 32;
constexpr int kResetCycles = 4;

static_assert(KILN_IN_WIDTH >= 1 && KILN_IN_WIDTH <= 64, "element width must be 1..64");
static_assert(KILN_OUT_WIDTH >= 1 && KILN_OUT_WIDTH <= 64, "element width must be 1..64");

// Status codes returned by kiln_emu_stream (mirrored in _emulator.py).
constexpr int kOk = 0;
constexpr int kCycleLimit = 1;
constexpr int kIdleLimit = 2;

uint64_t low_mask(int width) { return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1; }

void put_field(uint32_t* words, int bit, int width, uint64_t value) {
    for (int done = 0; done < width;) {
        const int pos = bit + done;
        const int off = pos & 31;
        const int take = (32 - off) < (width - done) ? (32 - off) : (width - done);
        const uint64_t chunk = (value >> done) & low_mask(take);
        words[pos >> 5] |= static_cast<uint32_t>(chunk << off);
        done += take;
    }
}

uint64_t get_field(const uint32_t* words, int bit, int width) {
    uint64_t value = 0;
    for (int done = 0; done < width;) {
        const int pos = bit + done;
        const int off = pos & 31;
        const int take = (32 - off) < (width - done) ? (32 - off) : (width - done);
        const uint64_t chunk = (uint64_t{words[pos >> 5]} >> off) & low_mask(take);
        value |= chunk << done;
        done += take;
    }
    return value;
}

void pack(const int64_t* codes, uint32_t* words) {
    std::memset(words, 0, sizeof(uint32_t) * kInWords);
    for (int e = 0; e < KILN_IN_ELEMS; ++e) {
        put_field(words, e * KILN_IN_WIDTH, KILN_IN_WIDTH,
                  static_cast<uint64_t>(codes[e]) & low_mask(KILN_IN_WIDTH));
    }
}

void unpack(const uint32_t* words, int64_t* codes) {
    for (int e = 0; e < KILN_OUT_ELEMS; ++e) {
        uint64_t v = get_field(words, e * KILN_OUT_WIDTH, KILN_OUT_WIDTH);
        if (KILN_OUT_SIGNED && KILN_OUT_WIDTH < 64 && ((v >> (KILN_OUT_WIDTH - 1)) & 1)) {
            v |= ~low_mask(KILN_OUT_WIDTH);
        }
        codes[e] = static_cast<int64_t>(v);
    }
}

// Ports up to 64 bits are plain integers (CData..QData); wider ones are VlWide word arrays.
template <typename T>
void write_port(T& port, const uint32_t* words, int n_words) {
    if constexpr (std::is_integral<T>::value) {
        (void)n_words;
        port = static_cast<T>(uint64_t{words[0]} | (uint64_t{words[1]} << 32));
    } else {
        for (int i = 0; i < n_words; ++i) port[i] = words[i];
    }
}

template <typename T>
void read_port(const T& port, uint32_t* words, int n_words) {
    if constexpr (std::is_integral<T>::value) {
        const uint64_t v = static_cast<uint64_t>(port);
        words[0] = static_cast<uint32_t>(v);
        words[1] = static_cast<uint32_t>(v >> 32);
    } else {
        for (int i = 0; i < n_words; ++i) words[i] = port[i];
    }
}

// splitmix64: small, seedable, good enough for stall patterns.
struct Rng {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    bool chance(double p) { return p > 0 && static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }
};

struct Session {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vkiln_top> top;
    Rng rng;
    double p_in_gap;
    double p_out_gap;
    uint64_t cycles = 0;      // cycles since reset was released
    bool offering = false;    // a beat is on s_axis and must stay until accepted
    uint32_t in_words[kInWords];
    uint32_t out_words[kOutWords];

    Session(uint64_t seed, double in_gap, double out_gap)
        : ctx(new VerilatedContext), rng{seed}, p_in_gap(in_gap), p_out_gap(out_gap) {
        ctx->randReset(0);
        top.reset(new Vkiln_top(ctx.get(), "kiln_top"));
        reset();
    }

    ~Session() { top->final(); }

    void tick() {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
    }

    void reset() {
        top->clk = 0;
        top->rst_n = 0;
        top->s_axis_tvalid = 0;
        top->s_axis_tlast = 0;
        top->m_axis_tready = 0;
        top->eval();
        for (int i = 0; i < kResetCycles; ++i) tick();
        top->rst_n = 1;
        top->eval();
        offering = false;
        cycles = 0;
    }

    // Runs until n_in beats are accepted and max_out beats are collected, or a limit hits.
    int stream(const int64_t* in, int64_t n_in, int64_t* out, int64_t max_out,
               int64_t max_cycles, int64_t idle_limit, int64_t* consumed, int64_t* produced) {
        int64_t n_done = 0;
        int64_t n_out = 0;
        int64_t idle = 0;
        int64_t loaded = -1;  // index of the beat currently packed onto s_axis_tdata
        for (int64_t c = 0; n_done < n_in || n_out < max_out; ++c) {
            if (c >= max_cycles) {
                *consumed = n_done;
                *produced = n_out;
                return kCycleLimit;
            }
            if (!offering && n_done < n_in && !rng.chance(p_in_gap)) offering = true;
            if (offering && n_done < n_in && loaded != n_done) {
                pack(in + n_done * KILN_IN_ELEMS, in_words);
                write_port(top->s_axis_tdata, in_words, kInWords);
                loaded = n_done;
            }
            top->s_axis_tvalid = offering && n_done < n_in;
            top->s_axis_tlast = KILN_IN_BEATS > 1 ? n_done % KILN_IN_BEATS == KILN_IN_BEATS - 1
                                                  : n_done == n_in - 1;
            top->m_axis_tready = n_out < max_out && !rng.chance(p_out_gap);
            top->eval();
            const bool in_fire = top->s_axis_tvalid && top->s_axis_tready;
            const bool out_fire = top->m_axis_tvalid && top->m_axis_tready;
            if (out_fire) {
                read_port(top->m_axis_tdata, out_words, kOutWords);
                unpack(out_words, out + n_out * KILN_OUT_ELEMS);
                ++n_out;
                idle = 0;
            } else if (n_out < max_out && ++idle > idle_limit) {
                *consumed = n_done;
                *produced = n_out;
                return kIdleLimit;
            }
            tick();
            ++cycles;
            if (in_fire) {
                ++n_done;
                offering = false;
            }
        }
        top->s_axis_tvalid = 0;
        top->m_axis_tready = 0;
        top->eval();
        *consumed = n_done;
        *produced = n_out;
        return kOk;
    }
};

}  // namespace

extern "C" {

// Geometry this library was built for: in_elems, in_width, in_signed, out_elems, ...
void kiln_emu_geometry(int64_t* geometry) {
    const int64_t g[6] = {KILN_IN_ELEMS, KILN_IN_WIDTH, KILN_IN_SIGNED,
                          KILN_OUT_ELEMS, KILN_OUT_WIDTH, KILN_OUT_SIGNED};
    std::memcpy(geometry, g, sizeof(g));
}

void* kiln_emu_open(uint64_t seed, double p_in_gap, double p_out_gap) {
    return new Session(seed, p_in_gap, p_out_gap);
}

int kiln_emu_stream(void* session, const int64_t* in, int64_t n_in, int64_t* out,
                    int64_t max_out, int64_t max_cycles, int64_t idle_limit,
                    int64_t* consumed, int64_t* produced) {
    return static_cast<Session*>(session)->stream(in, n_in, out, max_out, max_cycles,
                                                  idle_limit, consumed, produced);
}

uint64_t kiln_emu_cycles(void* session) { return static_cast<Session*>(session)->cycles; }

void kiln_emu_reset(void* session) { static_cast<Session*>(session)->reset(); }

void kiln_emu_close(void* session) { delete static_cast<Session*>(session); }

}  // extern "C"
