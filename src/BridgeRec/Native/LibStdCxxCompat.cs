using System.Buffers.Binary;
using System.Text;

namespace BridgeRec.Native;

/// <summary>
/// Makes TorchSharp's native bridge load on systems whose libstdc++ is older than the one it was
/// linked against. libLibTorchSharp.so asks for GLIBCXX_3.4.32 (GCC 13) for exactly one symbol,
/// <c>std::ios_base_library_init()</c>, which older libstdc++ builds run from a static initializer
/// anyway. Marking that version need weak (VER_FLG_WEAK in .gnu.version_r) and the symbol weak in
/// .dynsym lets the dynamic linker accept the library; nothing else changes.
/// </summary>
public static class LibStdCxxCompat
{
    public const string RequiredVersion = "GLIBCXX_3.4.32";
    public const string OnlySymbolNeedingIt = "_ZSt21ios_base_library_initv";

    const ushort VerFlgWeak = 0x2;
    const uint ShtDynsym = 11;
    const uint ShtGnuVerneed = 0x6ffffffe;
    const uint ShtGnuVersym = 0x6fffffff;
    const byte StbWeak = 2;

    public enum PatchOutcome { AlreadyCompatible, Patched, NotNeeded }

    /// <summary>True when the libstdc++ this process uses (or the system's) defines <paramref name="version"/>.</summary>
    public static bool SystemLibStdCxxHas(string version)
    {
        string? path = LoadedLibStdCxxPath() ?? FirstExisting(
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6");
        if (path is null) return true; // nothing to compare against: leave the library untouched
        byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
        return File.ReadAllBytes(path).AsSpan().IndexOf(needle) >= 0;
    }

    static string? LoadedLibStdCxxPath()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash >= 0 && line.Contains("libstdc++.so", StringComparison.Ordinal))
                    return line[slash..].Trim();
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    static string? FirstExisting(params string[] paths) => paths.FirstOrDefault(File.Exists);

    /// <summary>
    /// Rewrites <paramref name="soPath"/> (atomically: temp file + rename) so that its need for
    /// <see cref="RequiredVersion"/> is weak. Idempotent. Throws when the file is not the ELF layout expected.
    /// </summary>
    public static PatchOutcome PatchFile(string soPath)
    {
        byte[] elf = File.ReadAllBytes(soPath);
        bool changed = Patch(elf, soPath, out bool found);
        if (!found) return PatchOutcome.NotNeeded;
        if (!changed) return PatchOutcome.AlreadyCompatible;
        string tmp = soPath + ".patch-" + Environment.ProcessId + ".tmp";
        File.WriteAllBytes(tmp, elf);
        File.Move(tmp, soPath, overwrite: true);
        return PatchOutcome.Patched;
    }

    /// <summary>Patches the image in memory. Returns whether any byte changed; <paramref name="found"/> tells whether the version need exists.</summary>
    public static bool Patch(byte[] elf, string nameForErrors, out bool found)
    {
        var span = elf.AsSpan();
        if (elf.Length < 64 || span[0] != 0x7f || span[1] != (byte)'E' || span[2] != (byte)'L' || span[3] != (byte)'F')
            throw new InvalidDataException($"{nameForErrors}: not an ELF file");
        if (span[4] != 2 || span[5] != 1)
            throw new InvalidDataException($"{nameForErrors}: expected a 64-bit little-endian ELF (class {span[4]}, data {span[5]})");

        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);

        Section? verneed = null, dynsym = null, versym = null;
        var sections = new Section[shnum];
        for (int s = 0; s < shnum; s++)
        {
            var h = span.Slice(checked((int)shoff + s * shentsize), shentsize);
            sections[s] = new Section(
                Type: BinaryPrimitives.ReadUInt32LittleEndian(h[4..]),
                Offset: checked((int)BinaryPrimitives.ReadUInt64LittleEndian(h[0x18..])),
                Size: checked((int)BinaryPrimitives.ReadUInt64LittleEndian(h[0x20..])),
                Link: (int)BinaryPrimitives.ReadUInt32LittleEndian(h[0x28..]),
                Info: (int)BinaryPrimitives.ReadUInt32LittleEndian(h[0x2C..]),
                EntSize: checked((int)BinaryPrimitives.ReadUInt64LittleEndian(h[0x38..])));
            if (sections[s].Type == ShtGnuVerneed) verneed = sections[s];
            if (sections[s].Type == ShtDynsym) dynsym = sections[s];
            if (sections[s].Type == ShtGnuVersym) versym = sections[s];
        }
        found = false;
        if (verneed is null || dynsym is null) return false;

        bool changed = false;
        int versionIndex = -1;
        var strtab = sections[verneed.Value.Link];
        int vn = verneed.Value.Offset;
        for (int n = 0; n < verneed.Value.Info; n++)
        {
            int cnt = BinaryPrimitives.ReadUInt16LittleEndian(span[(vn + 2)..]);
            int aux = vn + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(vn + 8)..]);
            for (int a = 0; a < cnt; a++)
            {
                string name = ReadCString(span, strtab.Offset + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 8)..]));
                if (name == RequiredVersion)
                {
                    found = true;
                    versionIndex = BinaryPrimitives.ReadUInt16LittleEndian(span[(aux + 6)..]) & 0x7fff;
                    ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(span[(aux + 4)..]);
                    if ((flags & VerFlgWeak) == 0)
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(span[(aux + 4)..], (ushort)(flags | VerFlgWeak));
                        changed = true;
                    }
                }
                aux += (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 12)..]);
            }
            int next = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(vn + 12)..]);
            if (next == 0) break;
            vn += next;
        }
        if (!found) return false;

        var dynstr = sections[dynsym.Value.Link];
        int entSize = dynsym.Value.EntSize == 0 ? 24 : dynsym.Value.EntSize;
        bool symbolSeen = false;
        for (int k = 0, off = dynsym.Value.Offset; off + entSize <= dynsym.Value.Offset + dynsym.Value.Size; k++, off += entSize)
        {
            string name = ReadCString(span, dynstr.Offset + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[off..]));
            // Safety: weakening the version is only sound if no other symbol is bound to it.
            if (versym is not null && name != OnlySymbolNeedingIt &&
                (BinaryPrimitives.ReadUInt16LittleEndian(span[(versym.Value.Offset + 2 * k)..]) & 0x7fff) == versionIndex)
                throw new InvalidDataException($"{nameForErrors}: symbol {name} also needs {RequiredVersion}; the weak-version patch would not be safe");
            if (name != OnlySymbolNeedingIt) continue;
            symbolSeen = true;
            byte info = span[off + 4];
            byte weak = (byte)((StbWeak << 4) | (info & 0xf));
            if (info != weak) { span[off + 4] = weak; changed = true; }
        }
        if (!symbolSeen)
            throw new InvalidDataException($"{nameForErrors}: needs {RequiredVersion} but has no dynamic symbol {OnlySymbolNeedingIt}; the weak-version patch would not be safe");
        return changed;
    }

    static string ReadCString(ReadOnlySpan<byte> span, int at)
    {
        int end = span[at..].IndexOf((byte)0);
        return Encoding.ASCII.GetString(span.Slice(at, end));
    }

    readonly record struct Section(uint Type, int Offset, int Size, int Link, int Info, int EntSize);
}
