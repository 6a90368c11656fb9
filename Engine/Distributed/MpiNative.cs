using System.Runtime.InteropServices;

namespace Engine.Distributed;

/// <summary>
/// MPI's C API through function pointers, loaded only when a run is launched by mpirun. The handles are MPICH's
/// ABI (MPICH, Intel MPI, MVAPICH, Cray MPICH): communicators, datatypes and ops are ints with the constants of
/// MPICH's mpi.h. Open MPI's handles are pointers to its globals, so its library cannot be driven this way; the
/// launch check refuses it by name (<see cref="Dist"/>).
/// </summary>
unsafe sealed class MpiNative
{
    public const int CommWorld = 0x44000000, Byte = 0x4c00010d, Int = 0x4c000405, Float = 0x4c00040a,
        Double = 0x4c00080b, Sum = 0x58000003, Max = 0x58000001, ErrorsReturn = 0x54000001, Success = 0;
    public static readonly nint InPlace = -1, StatusIgnore = 1;

    /// <summary>Sonames of the MPICH-ABI runtime: Debian's libmpich12, then upstream MPICH's name.</summary>
    static readonly string[] Libraries = ["libmpich.so.12", "libmpi.so.12", "libmpich.so", "libmpi.so"];

    public readonly delegate* unmanaged<int*, nint, int> Init;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<int, int*, int> CommRank, CommSize;
    public readonly delegate* unmanaged<int, int, int> CommSetErrhandler, Abort;
    public readonly delegate* unmanaged<nint, nint, int, int, int, int, int*, int> Iallreduce;
    public readonly delegate* unmanaged<nint, int, int, int, int, int*, int> Ibcast;
    public readonly delegate* unmanaged<nint, int, int, nint, int, int, int, int*, int> Iallgather;
    public readonly delegate* unmanaged<nint, int, int, nint, int*, int*, int, int, int*, int> Iallgatherv;
    public readonly delegate* unmanaged<int*, int*, nint, int> Test;
    public readonly delegate* unmanaged<int, byte*, int*, int> ErrorString;

    MpiNative(nint lib)
    {
        nint F(string name) => NativeLibrary.GetExport(lib, name);
        Init = (delegate* unmanaged<int*, nint, int>)F("MPI_Init");
        Finalize = (delegate* unmanaged<int>)F("MPI_Finalize");
        CommRank = (delegate* unmanaged<int, int*, int>)F("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<int, int*, int>)F("MPI_Comm_size");
        CommSetErrhandler = (delegate* unmanaged<int, int, int>)F("MPI_Comm_set_errhandler");
        Abort = (delegate* unmanaged<int, int, int>)F("MPI_Abort");
        Iallreduce = (delegate* unmanaged<nint, nint, int, int, int, int, int*, int>)F("MPI_Iallreduce");
        Ibcast = (delegate* unmanaged<nint, int, int, int, int, int*, int>)F("MPI_Ibcast");
        Iallgather = (delegate* unmanaged<nint, int, int, nint, int, int, int, int*, int>)F("MPI_Iallgather");
        Iallgatherv = (delegate* unmanaged<nint, int, int, nint, int*, int*, int, int, int*, int>)F("MPI_Iallgatherv");
        Test = (delegate* unmanaged<int*, int*, nint, int>)F("MPI_Test");
        ErrorString = (delegate* unmanaged<int, byte*, int*, int>)F("MPI_Error_string");
    }

    public static MpiNative Load()
    {
        foreach (var name in Libraries)
            if (NativeLibrary.TryLoad(name, out var lib)) return new MpiNative(lib);
        throw new NotSupportedException("mpi: launched by mpirun but no MPICH library was found (looked for " +
            $"{string.Join(", ", Libraries)}); install it with: apt-get install mpich");
    }

    /// <summary>MPI's text for an error code.</summary>
    public string Describe(int code)
    {
        var text = new byte[1024];
        int length = 0;
        fixed (byte* p = text) ErrorString(code, p, &length);
        return System.Text.Encoding.ASCII.GetString(text, 0, Math.Clamp(length, 0, text.Length));
    }
}
