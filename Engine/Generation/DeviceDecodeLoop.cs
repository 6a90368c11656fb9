using Engine.Autograd;
using Engine.Kernels;
using Engine.Model;
using Engine.Tokenizers;

namespace Engine.Generation;

/// <summary>
/// Decoding with no host round trip per token (IDeviceDecode). The sampled ids stay on the device and feed the next
/// step's embedding; positions and finish flags advance there; the uniforms of a chunk of k steps go up in one copy
/// with the loop's state, and the chunk's tokens and log-probs come back in one. The host then replays the step-by-step
/// path's decisions (<see cref="Generator.Ends"/>) on what came back, so the completions are the same bits:
///  - EOS and the length limits are decided on the device the same way, so a finished row stops drawing at once;
///  - a stop string is only seen on the host: when temperature draws, the steps after a row stopped used uniforms
///    that belonged to the rows after it, so they are discarded and decoded again (the KV cache entries past a row's
///    position are never read, and the redone steps overwrite them);
///  - uniforms are read ahead (<see cref="IAheadDraws"/>) and only those the kept steps used are consumed.
/// After a redo the next chunk is only as long as the kept part, growing back by doubling.
/// Finished rows leave the batch (compaction) at chunk boundaries. Each batch shape's step is captured once as a
/// CUDA graph and replayed where the backend can (IDeviceDecode.Capture); elsewhere it launches directly.
/// </summary>
sealed class DeviceDecodeLoop(Transformer model, ITokenizer tokenizer, IReadOnlyList<int[]> prompts, SamplingOptions o,
    IAheadDraws draws, int total, int chunk, List<int>[] generated, List<float>[] logprobs, string?[] finish) : IDisposable
{
    static int warned;                                  // set once a capture or replay failed: no more tries
    readonly IDeviceDecode device = (IDeviceDecode)model.Backend;
    readonly IBackend be = model.Backend;
    readonly bool draw = o.Temperature > 0;
    KvCache cache = null!;
    int[] live = [];

    // One batch shape's buffers (and its graph): the graph freezes their addresses, so they live as long as it does.
    DecodeShape shape;
    DeviceInts? state, output, ids, positions;
    DeviceBuffer? uniforms, tokens, lps;
    IStepGraph? graph;
    bool directStepRan, captureTried;

    /// <summary>Decodes from the prefill's last-row logits [B, V] and cache until every row has finished.</summary>
    public void Run(Tensor prefillLogits, KvCache prefillCache, bool compact)
    {
        cache = prefillCache;
        live = Enumerable.Range(0, prompts.Count).ToArray();
        Tensor? first = prefillLogits;
        int step = 0;                                           // decode steps accepted so far
        // Steps in the next chunk: up to `chunk`, but after a stop-string redo only as many as were kept, then
        // doubling back. Rows that stop at stop strings one after another would otherwise make most of each chunk
        // a redo; any chunk length gives the same completions, so this only trades round trips for redone steps.
        int limit = chunk;
        while (true)
        {
            int n = Math.Min(limit, live.Where(b => finish[b] is null).Max(b => Remaining(b, step)));
            int drawing = draw ? live.Count(b => finish[b] is null) : 0;
            Shape(live.Length);
            var pool = draws.Peek(n * drawing);
            state!.CopyFrom(HostState(step, pool));
            for (int j = 0; j < n; j++)
            {
                if (first is not null) Sample(first);
                else Step();
                first = null;
            }
            var back = new int[n * live.Length * 2];
            output!.Slice(0, back.Length).CopyTo(back);
            var (accepted, consumed) = Accept(back, n, step);
            draws.Advance(consumed);
            step += accepted;
            if (live.All(b => finish[b] is not null)) break;
            limit = accepted < n ? accepted : Math.Min(chunk, 2 * limit);
            if (compact && live.Any(b => finish[b] is not null))
            {
                int[] keep = Enumerable.Range(0, live.Length).Where(i => finish[live[i]] is null).ToArray();
                cache = cache.Keep(keep);
                live = keep.Select(i => live[i]).ToArray();
            }
        }
    }

    /// <summary>Steps row b can still take before a length limit (it may finish sooner).</summary>
    int Remaining(int b, int step) => Math.Min(o.MaxNewTokens - generated[b].Count, total - prompts[b].Length - step);

    /// <summary>[cursor, slot, ids, positions, done, count, pool] at a chunk's start (DecodeShape's layout).</summary>
    int[] HostState(int step, double[] pool)
    {
        var s = new int[shape.Length];
        int R = live.Length;
        for (int i = 0; i < R; i++)
        {
            int b = live[i];
            bool done = finish[b] is not null;
            s[shape.Ids + i] = done || generated[b].Count == 0 ? tokenizer.PadId : generated[b][^1];
            s[shape.Positions + i] = Math.Min(prompts[b].Length + step - 1, total - 1);
            s[shape.Done + i] = done ? 1 : 0;
            s[shape.Count + i] = generated[b].Count;
        }
        // The same float the step-by-step device path uploads for each draw.
        for (int j = 0; j < pool.Length; j++)
            s[shape.PoolAt + j] = BitConverter.SingleToInt32Bits(MathF.Min((float)pool[j], 0.99999994f));
        return s;
    }

    /// <summary>
    /// The chunk's results through the step-by-step path's rules: (steps kept, uniforms they used). Steps after one
    /// where a row stopped at a stop string are dropped when temperature draws (see the class summary).
    /// </summary>
    (int Accepted, int Consumed) Accept(int[] back, int n, int step)
    {
        int R = live.Length, consumed = 0;
        for (int j = 0; j < n; j++)
        {
            bool stopped = false;
            for (int i = 0; i < R; i++)
            {
                int b = live[i];
                if (finish[b] is not null) continue;
                if (draw) consumed++;
                int token = back[(j * R + i) * 2];
                if (token < 0)
                    throw new InvalidOperationException($"decode loop: the device finished row {b} at step {step + j}; " +
                        "the host did not");
                generated[b].Add(token);
                logprobs[b].Add(BitConverter.Int32BitsToSingle(back[(j * R + i) * 2 + 1]));
                finish[b] = Generator.Ends(tokenizer, o, generated[b], prompts[b].Length + step + j, total);
                stopped |= finish[b] == "stop";
            }
            if (live.All(b => finish[b] is not null) || (stopped && draw)) return (j + 1, consumed);
        }
        return (n, consumed);
    }

    /// <summary>The buffers for a batch of R rows (the same ones while R stays: a graph may hold their addresses).</summary>
    void Shape(int R)
    {
        if (state is not null && shape.Rows == R) return;
        FreeShape();
        shape = new DecodeShape(R, chunk * R, tokenizer.EosId, tokenizer.PadId, o.MaxNewTokens, total, draw);
        state = device.AllocateInts(shape.Length);
        output = device.AllocateInts(chunk * R * 2);
        ids = state.Slice(shape.Ids, R);
        positions = state.Slice(shape.Positions, R);
        (uniforms, tokens, lps) = (be.Allocate(R), be.Allocate(R), be.Allocate(R));
    }

    /// <summary>Draws from logits [R, V] and records the tokens: the part of a step after its forward.</summary>
    void Sample(Tensor logits)
    {
        device.DecodeAssign(state!, uniforms!, shape);
        be.SampleTokens(logits.Data, uniforms!, tokens!, lps!, shape.Rows, model.Config.VocabSize, o.Temperature, o.TopK,
            o.TopP);
        device.DecodeRecord(tokens!, lps!, state!, output!, shape);
    }

    /// <summary>One whole step: the forward of the tokens last sampled, at their positions, then Sample.</summary>
    void Body() => Sample(model.Logits(model.HiddenAt(ids!, positions!, cache)));

    /// <summary>A step from the shape's graph, captured on its second step (the first loads kernels and tables
    /// directly, which capture must not do); directly where there is no graph.</summary>
    void Step()
    {
        if (graph is null && directStepRan && !captureTried && Volatile.Read(ref warned) == 0)
        {
            captureTried = true;
            graph = device.Capture(Body, out string? why);
            if (why is not null) Warn(why);
        }
        if (graph is not null)
        {
            // A launch the driver refuses fails before the graph runs: the step then runs directly, as without one.
            try { graph.Replay(); return; }
            catch (InvalidOperationException e)
            {
                Warn(e.Message);
                graph.Dispose();
                graph = null;
            }
        }
        Body();
        directStepRan = true;
    }

    static void Warn(string why)
    {
        if (Interlocked.Exchange(ref warned, 1) == 0)
            Console.Error.WriteLine($"engine: warning: CUDA graphs off for this run ({why}); decoding with direct launches");
    }

    void FreeShape()
    {
        graph?.Dispose();
        graph = null;
        (directStepRan, captureTried) = (false, false);
        foreach (var d in new IDisposable?[] { state, output, uniforms, tokens, lps }) d?.Dispose();
        (state, output, ids, positions, uniforms, tokens, lps) = (null, null, null, null, null, null, null);
    }

    public void Dispose() => FreeShape();
}
