using System.IO.Compression;

namespace BridgeRec.Tests.Download;

/// <summary>
/// Builds, at run time and in a temp folder, an ml-100k.zip laid out like the GroupLens one (files under "ml-100k/")
/// from the shared MovieLens 100K copy. Nothing is written inside the repository.
/// </summary>
public sealed class MovieLensZipFixture
{
    public string SourceFolder { get; } = TestData.Path_("movielens-100k");

    /// <summary>The intact archive.</summary>
    public byte[] Zip { get; }

    public MovieLensZipFixture() => Zip = Build();

    /// <summary>The archive with some files replaced: <paramref name="edit"/> gets (name, bytes) and returns the bytes to store.</summary>
    public byte[] Build(Func<string, byte[], byte[]>? edit = null)
    {
        using var temp = new TestData.TempDir();
        string zipPath = temp.File("ml-100k.zip");
        using (ZipArchive zip = ZipFile.Open(zipPath, ZipArchiveMode.Create))
        {
            zip.CreateEntry("ml-100k/");
            foreach (string path in Directory.GetFiles(SourceFolder).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(path);
                if (name == "SOURCE.md") continue; // ours, not part of the GroupLens archive
                byte[] bytes = File.ReadAllBytes(path);
                if (edit is not null) bytes = edit(name, bytes);
                ZipArchiveEntry entry = zip.CreateEntry("ml-100k/" + name, CompressionLevel.Fastest);
                using Stream s = entry.Open();
                s.Write(bytes);
            }
        }
        return File.ReadAllBytes(zipPath);
    }

    /// <summary>Copies the shared files (as a user's existing copy would be) into <paramref name="folder"/>.</summary>
    public void CopyTo(string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (string path in Directory.GetFiles(SourceFolder))
            if (Path.GetFileName(path) != "SOURCE.md")
                File.Copy(path, Path.Combine(folder, Path.GetFileName(path)));
    }
}
