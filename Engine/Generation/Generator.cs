using Engine.Autograd;
using Engine.Model;
using Engine.Tokenizers;

namespace Engine.Generation;

/// <summary>One sampled continuation: its token ids (EOS included if produced), their log-probs, the text.</summary>
public sealed record Completion(int[] PromptIds, int[] Ids, float[] Logprobs, string Text, string FinishReason);

/// <summary>
/// Batched generation with a KV cache. Prompts may differ in length: they are right-padded for
/// one prefill forward, and each row then decodes at its own position (the cache attends over
/// 0..position only, so padding is never seen). Stops per row at EOS, at a stop string (kept in
/// the text, as the reasoning format ends with "&lt;/answer&gt;"), or at the token budget.
/// </summary>
public static class Generator
{
    /// <param name="onDevice">
    /// Draw tokens on the device (the IBackend's SampleTokens: only ids and log-probs come back, not the
    /// [B, V] logits) or on the host (Sampler). Default: on the device for a GPU backend, on the host for the
    /// CPU backend. Both consume the same uniforms from <paramref name="rng"/> (one per unfinished row per
    /// step, in row order; none when greedy), but the device walks the kept tokens in vocabulary order and the
    /// host by descending probability, so the same seed draws from the same distribution, not the same tokens.
    /// Greedy decoding gives the same tokens either way.
    /// </param>
    public static Completion[] Generate(Transformer model, ITokenizer tokenizer, IReadOnlyList<int[]> prompts, SamplingOptions o, Rng rng,
        bool? onDevice = null)
    {
        o.Validate();
        int B = prompts.Count;
        if (B == 0) return [];
        int context = model.Config.MaxPositions;
        foreach (var p in prompts)
        {
            if (p.Length == 0) throw new ArgumentException("generate: a prompt is empty");
            if (p.Length >= context)
                throw new ArgumentException($"generate: a prompt of {p.Length} tokens leaves no room in the context " +
                    $"of {context}");
        }
        using var _ = GradMode.Disable();
        int promptMax = prompts.Max(p => p.Length);
        int total = Math.Min(context, promptMax + o.MaxNewTokens);
        var cache = new KvCache(model, B, total);
        int V = model.Config.VocabSize, C = model.Config.Hidden;

        // Prefill: every prompt at positions 0..len−1 (padding after it is overwritten as the row decodes).
        var ids = new int[B * promptMax];
        for (int b = 0; b < B; b++)
        {
            Array.Fill(ids, tokenizer.PadId, b * promptMax, promptMax);
            prompts[b].CopyTo(ids, b * promptMax);
        }
        var hidden = model.Hidden(ids, B, promptMax, cache);                                      // [B, promptMax, C]
        // Each prompt's last row, gathered on the device.
        var lastRows = Enumerable.Range(0, B).Select(b => b * promptMax + prompts[b].Length - 1).ToArray();
        var logits = model.Logits(Ops.Embedding(Ops.Reshape(hidden, B * promptMax, C), lastRows));        // [B, V]
        bool device = onDevice ?? !IsCpu(model.Backend);
        var draw = device ? new DeviceDraw(model.Backend, B) : null;

        var generated = Enumerable.Range(0, B).Select(_ => new List<int>()).ToArray();
        var logprobs = Enumerable.Range(0, B).Select(_ => new List<float>()).ToArray();
        var finish = new string?[B];
        var texts = new string[B];
        var next = new int[B];
        var positions = new int[B];
        for (int step = 0; ; step++)
        {
            var sampled = draw?.Next(logits, finish, V, o, rng);
            float[]? hostLogits = sampled is null ? logits.ToArray() : null;
            for (int b = 0; b < B; b++)
            {
                positions[b] = prompts[b].Length + step;
                if (finish[b] is not null) { next[b] = tokenizer.PadId; continue; }
                var (token, lp) = sampled is not null ? sampled[b] : Sampler.Sample(hostLogits.AsSpan(b * V, V), o, rng);
                generated[b].Add(token);
                logprobs[b].Add(lp);
                next[b] = token;
                if (token == tokenizer.EosId) { finish[b] = "eos"; continue; }
                if (o.Stop is { Length: > 0 } && StopAt(tokenizer.Decode(generated[b]), o.Stop) >= 0) { finish[b] = "stop"; continue; }
                if (generated[b].Count >= o.MaxNewTokens || positions[b] + 1 >= total) finish[b] = "length";
            }
            if (finish.All(f => f is not null)) break;
            // Rows that finished still take a (pad) step at a valid position; their output is ignored.
            for (int b = 0; b < B; b++) positions[b] = Math.Min(positions[b], total - 1);
            logits = model.Logits(model.Hidden(next, B, 1, cache, positions));
        }

        var result = new Completion[B];
        for (int b = 0; b < B; b++)
        {
            var gen = generated[b];
            string text = tokenizer.Decode(gen[^1] == tokenizer.EosId ? gen.Take(gen.Count - 1) : gen);
            if (finish[b] == "stop") text = text[..StopAt(text, o.Stop!)];
            result[b] = new Completion(prompts[b], gen.ToArray(), logprobs[b].ToArray(), text, finish[b]!);
        }
        return result;
    }

    static bool IsCpu(Kernels.IBackend backend) => backend is Kernels.CpuBackend or Kernels.TimingBackend { Inner: Kernels.CpuBackend };

    /// <summary>Per step: the rows' uniforms up, SampleTokens on the device, B tokens and log-probs back.</summary>
    sealed class DeviceDraw(Kernels.IBackend backend, int rows)
    {
        readonly Kernels.DeviceBuffer uniforms = backend.Allocate(rows), tokens = backend.Allocate(rows),
            logprobs = backend.Allocate(rows);
        readonly float[] u = new float[rows];

        public (int Token, float Logprob)[] Next(Tensor logits, string?[] finish, int vocab, SamplingOptions o, Rng rng)
        {
            for (int b = 0; b < rows; b++)
                u[b] = finish[b] is null && o.Temperature > 0 ? MathF.Min((float)rng.NextDouble(), 0.99999994f) : 0f;
            uniforms.CopyFrom(u);
            backend.SampleTokens(logits.Data, uniforms, tokens, logprobs, rows, vocab, o.Temperature, o.TopK, o.TopP);
            var ids = tokens.ToArray();
            var lps = logprobs.ToArray();
            return ids.Select((t, b) => ((int)t, lps[b])).ToArray();
        }
    }

    /// <summary>The end (exclusive) of the first stop string in text, or −1.</summary>
    static int StopAt(string text, string[] stops)
    {
        int best = -1;
        foreach (var s in stops)
        {
            int i = text.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (best < 0 || i + s.Length < best)) best = i + s.Length;
        }
        return best;
    }
}
