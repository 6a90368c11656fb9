using Engine.Kernels;

namespace Engine.Autograd;

/// <summary>Attention, rotary embeddings, token embeddings and the language-model loss.</summary>
public static partial class Ops
{
    /// <summary>
    /// Causal self-attention, multi-head with grouped-query heads.
    /// q [B, T, Hq·D], k and v [B, T, Hkv·D] (the layout of a QKV projection) → [B, T, Hq·D].
    /// </summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, int qHeads, int kvHeads)
    {
        const string op = "attention";
        SameBackend(op, q, k); SameBackend(op, q, v);
        Rank(op, "q", q, 3, "[B, T, Hq·D]");
        if (qHeads <= 0 || kvHeads <= 0 || qHeads % kvHeads != 0)
            throw new ShapeException(op, "heads", "positive query heads, a multiple of the kv heads",
                $"{qHeads} query / {kvHeads} kv heads");
        int B = q.Shape[0], T = q.Shape[1];
        if (q.Shape[2] % qHeads != 0) throw new ShapeException(op, "q", $"last dimension a multiple of {qHeads} heads", S(q.Shape));
        int D = q.Shape[2] / qHeads;
        int[] kvShape = [B, T, kvHeads * D];
        if (!k.Shape.SequenceEqual(kvShape)) throw new ShapeException(op, "k", S(kvShape), S(k.Shape));
        if (!v.Shape.SequenceEqual(kvShape)) throw new ShapeException(op, "v", S(kvShape), S(v.Shape));
        var be = q.Backend;
        var y = New(q, q.Size);
        var lse = New(q, B * qHeads * T);
        be.Attention(q.Data, k.Data, v.Data, y, lse, B, T, qHeads, kvHeads, D);
        return Tensor.Result(y, q.Shape, op, [q, k, v], self => () =>
            be.AttentionBackward(q.Data, k.Data, v.Data, y, lse, self.Grad!.Data,
                q.RequiresGrad ? q.GradBuffer() : New(q, q.Size),
                k.RequiresGrad ? k.GradBuffer() : New(k, k.Size),
                v.RequiresGrad ? v.GradBuffer() : New(v, v.Size), B, T, qHeads, kvHeads, D));
    }

    /// <summary>
    /// Rotary position embedding of x [B, T, H·D] (Llama/HF rotate-half layout). positions [B·T] gives
    /// each row's position; null means 0..T−1 in every sequence.
    /// </summary>
    public static Tensor Rope(Tensor x, int heads, float theta = 10000f, int[]? positions = null)
    {
        const string op = "rope";
        Rank(op, "x", x, 3, "[B, T, H·D]");
        if (heads <= 0 || x.Shape[2] % heads != 0)
            throw new ShapeException(op, "x", $"last dimension a multiple of {heads} heads", S(x.Shape));
        int B = x.Shape[0], T = x.Shape[1], D = x.Shape[2] / heads;
        positions = positions is null ? SequencePositions(B, T) : (int[])positions.Clone();
        var be = x.Backend;
        var y = New(x, x.Size);
        be.Rope(x.Data, y, positions, B, T, heads, D, theta);
        return Tensor.Result(y, x.Shape, op, [x], self => () =>
            be.RopeBackward(self.Grad!.Data, x.GradBuffer(), positions, B, T, heads, D, theta));
    }

    /// <summary>positions[b·T + t] = offset + t.</summary>
    public static int[] SequencePositions(int batch, int steps, int offset = 0)
    {
        var p = new int[batch * steps];
        for (int i = 0; i < p.Length; i++) p[i] = offset + i % steps;
        return p;
    }

    /// <summary>Rows of table [V, C] picked by ids; the result has shape idsShape + [C].</summary>
    public static Tensor Embedding(Tensor table, int[] ids, params int[] idsShape)
    {
        const string op = "embedding";
        Rank(op, "table", table, 2, "[V, C]");
        if (idsShape.Length == 0) idsShape = [ids.Length];
        long count = 1;
        foreach (int d in idsShape) count *= d;
        if (count != ids.Length) throw new ShapeException(op, "ids", $"{count} ids for shape {S(idsShape)}", $"{ids.Length} ids");
        int V = table.Shape[0], C = table.Shape[1];
        var be = table.Backend;
        var y = New(table, ids.Length * C);
        var idsCopy = (int[])ids.Clone();   // the caller may reuse its array before backward runs
        be.Embedding(idsCopy, table.Data, y, V, C);
        return Tensor.Result(y, [.. idsShape, C], op, [table], self => () =>
            be.EmbeddingBackward(idsCopy, self.Grad!.Data, table.GradBuffer(), V, C));
    }

    /// <summary>
    /// Mean cross-entropy of logits [..., V] against integer targets (one per row), rows whose
    /// target is ignoreIndex left out. The fused primitive returns the loss and writes
    /// dlogits = (softmax − onehot)/count in the same pass; backward scales it by the upstream grad.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, int[] targets, int ignoreIndex = -1)
    {
        const string op = "cross_entropy";
        int rows = RowCount(logits), V = Cols(logits);
        if (targets.Length != rows)
            throw new ShapeException(op, "targets", $"{rows} targets (one per row of {S(logits.Shape)})",
                $"{targets.Length} targets");
        var be = logits.Backend;
        bool track = GradMode.Enabled && logits.RequiresGrad;
        var dlogits = track ? New(logits, logits.Size) : null;
        float loss = be.CrossEntropy(logits.Data, (int[])targets.Clone(), dlogits, rows, V, ignoreIndex);
        var y = New(logits, 1);
        y.CopyFrom([loss]);
        return Tensor.Result(y, [1], op, [logits], self => () =>
        {
            float g = self.Grad!.Data.ToArray()[0];   // one scalar back to the host
            be.Axpy(g, dlogits!, logits.GradBuffer());
        });
    }
}
