using Engine.Autograd;
using Engine.Kernels;

namespace Engine.Model;

/// <summary>
/// A small GPT-2: token + learned position embeddings, N pre-LN blocks, a final LayerNorm and the
/// LM head tied to the token embedding (logits = h·wteᵀ). Enough for the foundation's training
/// run and benchmarks; the configurable model with checkpoints builds on the same blocks.
/// </summary>
public sealed class TinyGpt
{
    public readonly Tensor Wte, Wpe, LnFW, LnFB;
    public readonly Gpt2Block[] Blocks;
    public int Vocab { get; }
    public int Context { get; }

    public TinyGpt(IBackend backend, int vocab, int context, int channels, int heads, int layers, int seed)
    {
        var init = new Init(backend, seed);
        Vocab = vocab;
        Context = context;
        Wte = init.Normal(0.02f, vocab, channels);
        Wpe = init.Normal(0.01f, context, channels);
        Blocks = Enumerable.Range(0, layers).Select(_ => new Gpt2Block(init, channels, heads, layers)).ToArray();
        LnFW = init.Ones(channels);
        LnFB = init.Zeros(channels);
    }

    /// <summary>ids [B·T] (row-major [B, T]) → logits [B, T, V].</summary>
    public Tensor Forward(int[] ids, int batch, int steps)
    {
        if (steps > Context) throw new ArgumentException($"tiny_gpt: sequence of {steps} steps exceeds the context of {Context}");
        var positions = new int[batch * steps];
        for (int i = 0; i < positions.Length; i++) positions[i] = i % steps;
        var x = Ops.Add(Ops.Embedding(Wte, ids, batch, steps), Ops.Embedding(Wpe, positions, batch, steps));
        foreach (var block in Blocks) x = block.Forward(x);
        x = Ops.LayerNorm(x, LnFW, LnFB);
        return Ops.Linear(x, Wte);   // tied head
    }

    /// <summary>Weight matrices get weight decay; embeddings, norms and biases do not (GPT-2/nanoGPT practice).</summary>
    public IEnumerable<Tensor> Decayed => Blocks.SelectMany(b => b.Matrices);
    public IEnumerable<Tensor> NotDecayed => new[] { Wte, Wpe, LnFW, LnFB }.Concat(Blocks.SelectMany(b => b.NormsAndBiases));
    public IEnumerable<Tensor> Parameters => Decayed.Concat(NotDecayed);
}
