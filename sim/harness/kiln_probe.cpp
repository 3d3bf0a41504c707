// kiln probe harness: the bulk emulator harness plus per-layer probes, for kiln's trace.
//
// Built by kiln.sim (sw/kiln/sim/_probe.py) with Verilator's --vpi and kiln_probe.vlt, so
// kiln_top's stage streams (*_y, *_out_valid, *_ce) can be read by name through VPI. A probe
// watches one stream inside the design: its data, its valid and its ce (ready-or-empty).
// Every clock edge at which valid and ce are both high hands the beat on data to the next
// stage (nothing is dropped or duplicated), and the probe records it. Samples go in back to
// back; tready stays high.
//
// It includes kiln_emu.cpp for the session, packing and the defines it documents.

#include "kiln_emu.cpp"

#include "verilated_vpi.h"

#include <string>
#include <vector>

namespace {

struct Probe {
    vpiHandle data;
    vpiHandle valid;
    vpiHandle ce;
    int width;
    int words;
    std::vector<uint32_t> beats;
};

bool high(vpiHandle signal) {
    s_vpi_value v;
    v.format = vpiIntVal;
    vpi_get_value(signal, &v);
    return v.value.integer != 0;
}

vpiHandle find(const std::string& name) {
    return vpi_handle_by_name(const_cast<PLI_BYTE8*>(name.c_str()), nullptr);
}

struct ProbeSession {
    Session session{0, 0.0, 0.0};
    std::vector<Probe> probes;

    void record() {
        for (Probe& p : probes) {
            if (!high(p.valid) || !high(p.ce)) continue;
            s_vpi_value v;
            v.format = vpiVectorVal;
            vpi_get_value(p.data, &v);
            for (int w = 0; w < p.words; ++w) p.beats.push_back(v.value.vector[w].aval);
        }
    }

    int run(const int64_t* in, int64_t n_in, int64_t n_out, int64_t idle_limit) {
        Vkiln_top* top = session.top.get();
        uint32_t words[kInWords];
        int64_t done = 0, got = 0, idle = 0;
        while (done < n_in || got < n_out) {
            if (done < n_in) {
                pack(in + done * KILN_IN_ELEMS, words);
                write_port(top->s_axis_tdata, words, kInWords);
            }
            top->s_axis_tvalid = done < n_in;
            top->s_axis_tlast = KILN_IN_BEATS > 1 ? done % KILN_IN_BEATS == KILN_IN_BEATS - 1
                                                  : done == n_in - 1;
            top->m_axis_tready = 1;
            top->eval();
            record();
            const bool in_fire = top->s_axis_tvalid && top->s_axis_tready;
            if (top->m_axis_tvalid) {
                ++got;
                idle = 0;
            } else if (++idle > idle_limit) {
                return kIdleLimit;
            }
            session.tick();
            if (in_fire) ++done;
        }
        return kOk;
    }
};

}  // namespace

extern "C" {

void* kiln_probe_open() { return new ProbeSession; }

// Watches a stream by signal names (full VPI names, "kiln_top.fc1_y"); returns the probe's
// index, or -1 when a signal is not in the design. *width gets the data width in bits.
int kiln_probe_watch(void* handle, const char* data, const char* valid, const char* ce,
                     int64_t* width) {
    ProbeSession* s = static_cast<ProbeSession*>(handle);
    Probe p;
    p.data = find(data);
    p.valid = find(valid);
    p.ce = find(ce);
    if (!p.data || !p.valid || !p.ce) return -1;
    p.width = vpi_get(vpiSize, p.data);
    p.words = (p.width + 31) / 32;
    *width = p.width;
    s->probes.push_back(p);
    return static_cast<int>(s->probes.size()) - 1;
}

int kiln_probe_run(void* handle, const int64_t* in, int64_t n_in, int64_t n_out,
                   int64_t idle_limit) {
    return static_cast<ProbeSession*>(handle)->run(in, n_in, n_out, idle_limit);
}

// Beats probe `index` recorded, and a copy of them (beats * ceil(width / 32) words).
int64_t kiln_probe_beats(void* handle, int index) {
    const Probe& p = static_cast<ProbeSession*>(handle)->probes[index];
    return static_cast<int64_t>(p.beats.size()) / p.words;
}

void kiln_probe_copy(void* handle, int index, uint32_t* out) {
    const Probe& p = static_cast<ProbeSession*>(handle)->probes[index];
    std::memcpy(out, p.beats.data(), p.beats.size() * sizeof(uint32_t));
}

void kiln_probe_close(void* handle) { delete static_cast<ProbeSession*>(handle); }

}  // extern "C"
