using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Sampling;

/// <summary>
/// The device-resident decode loop's bookkeeping (layout in <see cref="DecodeShape"/>). The definition is the host
/// step of Engine/Generation/Generator.cs: a row draws one uniform per step while unfinished, in row order; it
/// finishes at EOS or at its token budget or the cache's end; a finished row feeds the pad token. Stop strings are
/// the host's to find (it discards what the device decoded past them). Both kernels are tiny next to a forward.
/// </summary>
public static class DecodeLoopGpu
{
    /// <summary>One thread: the pool is consumed in row order, which a per-row thread could only do with a scan;
    /// a serial loop over at most a few hundred rows costs about as much as the launch.</summary>
    static void AssignKernel(Index1D i, ArrayView<int> st, ArrayView<float> u, int rows, int pool, int draw)
    {
        if (i != 0) return;
        int cursor = st[DecodeShape.Cursor], done = 2 + 2 * rows, at = 2 + 4 * rows;
        for (int r = 0; r < rows; r++)
        {
            if (draw != 0 && st[done + r] == 0 && cursor < pool)
            {
                u[r] = Interop.IntAsFloat((uint)st[at + cursor]);
                cursor++;
            }
            else u[r] = 0f;
        }
        st[DecodeShape.Cursor] = cursor;
        st[DecodeShape.Slot] = st[DecodeShape.Slot] + 1;
    }

    /// <summary>One thread per row: output[(slot·R + r)·2 + {0, 1}] = token (−1 for a finished row), log-prob bits.</summary>
    static void RecordKernel(Index1D r, ArrayView<float> tokens, ArrayView<float> logprobs, ArrayView<int> st,
        ArrayView<int> output, int rows, int eos, int pad, int maxNew, int total)
    {
        if (r >= rows) return;
        int slot = st[DecodeShape.Slot] - 1, o = (slot * rows + r) * 2;
        int ids = 2 + r, pos = 2 + rows + r, done = 2 + 2 * rows + r, count = 2 + 3 * rows + r;
        int next = st[pos] + 1;
        if (st[done] != 0)
        {
            output[o] = -1;
            output[o + 1] = 0;
            st[ids] = pad;
        }
        else
        {
            int token = (int)tokens[r], c = st[count] + 1;
            output[o] = token;
            output[o + 1] = (int)Interop.FloatAsInt(logprobs[r]);
            st[count] = c;
            if (token == eos || c >= maxNew || next + 1 >= total) st[done] = 1;
            st[ids] = token;
        }
        st[pos] = next < total - 1 ? next : total - 1;
    }

    public static void Assign(LaunchContext k, ArrayView<int> state, ArrayView<float> uniforms, DecodeShape s) =>
        k.Auto<ArrayView<int>, ArrayView<float>, int, int, int>(AssignKernel)(1, state, uniforms, s.Rows, s.Pool,
            s.Draw ? 1 : 0);

    public static void Record(LaunchContext k, ArrayView<float> tokens, ArrayView<float> logprobs, ArrayView<int> state,
        ArrayView<int> output, DecodeShape s)
    {
        if (s.Rows == 0) return;
        k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<int>, int, int, int, int, int>(RecordKernel)(
            s.Rows, tokens, logprobs, state, output, s.Rows, s.Eos, s.Pad, s.MaxNew, s.Total);
    }
}
