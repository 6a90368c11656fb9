using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Sampling;

/// <summary>
/// The next token of each row drawn on the device (SamplingCpu is the definition): one group per row;
/// the max, the softmax sum, the top-k and top-p cuts (32 counting passes each, bisection over the
/// logits' bit patterns) and the kept mass are group reductions combined by one thread in a fixed
/// order, then the chunk holding u · (kept mass) is walked. Only the token and its log-prob leave the
/// device — not the [B, V] logits.
/// </summary>
public static class SamplingGpu
{
    const int MaxThreads = 256;

    static uint Key(float f)
    {
        int bits = (int)Interop.FloatAsInt(f);
        return bits >= 0 ? (uint)bits | 0x80000000u : ~(uint)bits;
    }

    static void Kernel(ArrayView<float> logits, ArrayView<float> uniforms, ArrayView<float> tokens, ArrayView<float> logprobs,
        int vocab, float temperature, int topK, float topP)
    {
        var partF = SharedMemory.Allocate<float>(MaxThreads);
        var partI = SharedMemory.Allocate<int>(MaxThreads);
        var shared = SharedMemory.Allocate<float>(2);           // row max, softmax sum
        var cutShared = SharedMemory.Allocate<int>(1);          // the cut key, as int bits
        int r = Grid.IdxX, j = Group.IdxX, threads = Group.DimX;
        long o = (long)r * vocab;
        float T = temperature > 0 ? temperature : 1f;

        float m = float.NegativeInfinity;
        for (int i = j; i < vocab; i += threads) m = XMath.Max(m, logits[o + i] / T);
        partF[j] = m;
        Group.Barrier();
        if (j == 0)
        {
            float all = partF[0];
            for (int t = 1; t < threads; t++) all = XMath.Max(all, partF[t]);
            shared[0] = all;
        }
        Group.Barrier();
        m = shared[0];
        float s = 0f;
        for (int i = j; i < vocab; i += threads) s += XMath.Exp(logits[o + i] / T - m);
        partF[j] = s;
        Group.Barrier();
        if (j == 0)
        {
            float all = 0f;
            for (int t = 0; t < threads; t++) all += partF[t];
            shared[1] = all;
        }
        Group.Barrier();
        float sum = shared[1], lse = m + XMath.Log(sum);

        if (temperature <= 0)
        {
            int best = -1;
            float bestValue = float.NegativeInfinity;
            for (int i = j; i < vocab; i += threads)
                if (best < 0 || logits[o + i] > bestValue) { best = i; bestValue = logits[o + i]; }
            partI[j] = best;
            Group.Barrier();
            if (j == 0)
            {
                int winner = partI[0];
                for (int t = 1; t < threads; t++)
                {
                    int c = partI[t];
                    if (c >= 0 && (winner < 0 || logits[o + c] > logits[o + winner] || (logits[o + c] == logits[o + winner] && c < winner)))
                        winner = c;
                }
                tokens[r] = winner;
                logprobs[r] = logits[o + winner] - lse;
            }
            return;
        }

        uint cut = 0;
        if (topK > 0 && topK < vocab)
            for (int bit = 31; bit >= 0; bit--)
            {
                uint candidate = cut | (1u << bit);
                int count = 0;
                for (int i = j; i < vocab; i += threads) if (Key(logits[o + i]) >= candidate) count++;
                partI[j] = count;
                Group.Barrier();
                if (j == 0)
                {
                    int all = 0;
                    for (int t = 0; t < threads; t++) all += partI[t];
                    cutShared[0] = (int)(all >= topK ? candidate : cut);
                }
                Group.Barrier();
                cut = (uint)cutShared[0];
                Group.Barrier();
            }
        if (topP < 1f)
        {
            uint massCut = 0;
            for (int bit = 31; bit >= 0; bit--)
            {
                uint candidate = massCut | (1u << bit);
                float mass = 0f;
                for (int i = j; i < vocab; i += threads) if (Key(logits[o
                    + i]) >= candidate) mass += XMath.Exp(logits[o + i] / T - m) / sum;
                partF[j] = mass;
                Group.Barrier();
                if (j == 0)
                {
                    float all = 0f;
                    for (int t = 0; t < threads; t++) all += partF[t];
                    cutShared[0] = (int)(all >= topP ? candidate : massCut);
                }
                Group.Barrier();
                massCut = (uint)cutShared[0];
                Group.Barrier();
            }
            cut = cut > massCut ? cut : massCut;
        }

        // The kept mass per contiguous chunk, then the chunk and the token where u · (kept mass) falls.
        int chunk = (vocab + threads - 1) / threads, c0 = j * chunk, c1 = c0 + chunk < vocab ? c0 + chunk : vocab;
        float kept = 0f;
        for (int i = c0; i < c1; i++) if (Key(logits[o + i]) >= cut) kept += XMath.Exp(logits[o + i] / T - m);
        partF[j] = kept;
        Group.Barrier();
        if (j == 0)
        {
            float total = 0f;
            for (int t = 0; t < threads; t++) total += partF[t];
            float target = uniforms[r] * total, acc = 0f;
            int c = 0;
            while (c < threads - 1 && !(target < acc + partF[c])) { acc += partF[c]; c++; }
            int token = -1, last = -1;
            for (int i = c * chunk; i < vocab && token < 0; i++)
            {
                if (Key(logits[o + i]) < cut) continue;
                acc += XMath.Exp(logits[o + i] / T - m);
                last = i;
                if (target < acc) token = i;
            }
            if (token < 0) token = last >= 0 ? last : 0;
            tokens[r] = token;
            logprobs[r] = logits[o + token] / T - lse;
        }
    }

    public static void Run(LaunchContext k, ArrayView<float> logits, ArrayView<float> uniforms, ArrayView<float> tokens,
        ArrayView<float> logprobs, int rows, int vocab, float temperature, int topK, float topP)
    {
        if (rows == 0) return;
        int threads = Math.Min(Math.Min(MaxThreads, k.MaxGroup), vocab);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int, float>(Kernel)(
            new KernelConfig(rows, threads), logits, uniforms, tokens, logprobs, vocab, temperature, topK, topP);
    }
}
