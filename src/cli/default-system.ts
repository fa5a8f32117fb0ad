/**
 * The default system, embedded: what `symphony up` boots without -c and without ./symphony.yaml.
 * Paths in it are relative to the package's examples/ folder (the bundled extensions live there).
 * examples/symphony.yaml is the same text, to read and copy (a test keeps the two identical).
 */
export const DEFAULT_SYSTEM = `# yaml-language-server: $schema=../schema/symphony.schema.json
# The default system (the one \`npm start\` boots when there is no ./symphony.yaml): the bus, the
# Pit's five extensions, the Orchestra Kit with the bundled example extensions, and the Conductor.
# The Pit reaches the Conductor through a late edge: the one legal way to close the seed's cycle.
http: { listen: 127.0.0.1:0 }
components:
  bus:       { use: builtin:bus, with: { listen: auto } }
  pit:       { use: builtin:pit, needs: [bus], late: [conductor] }
  orchestra:
    use: builtin:orchestra
    needs: [bus, pit]
    with:
      paths: [./extensions]
      # A manifest only asks; the operator grants (docs/grants.md). Each grant is pinned to the
      # manifest it was given for; \`symphony grant ./extensions\` prints these for a manifest.
      grants:
        files:      { manifest: sha256:438ad2742d899ed6d2e9cb70e0f7478280402887682b1e4302d44290ab261ad4, execution: in-process, provides: [files.list, files.read], publishes: [files.>] }
        summarizer: { manifest: sha256:3d690b68894de44f9ec4f09c165a1c7fa5bb476724730746642bc286b05a31f5, provides: [report.text] }
        text-stats: { manifest: sha256:bf499e4a6c4a3969016fc809ab8857b696d040b038071fe282b9f777d20ef8f0, provides: [text.stats, text.merge], publishes: [text.>], limits: { memoryMb: 128 } }
  conductor: { use: builtin:conductor, needs: [orchestra] }
profiles:
  # No extensions: the infrastructure alone.
  bare: { components: { orchestra: { with: { paths: [] } } } }
  # Reload extensions when their folders change.
  dev: { components: { orchestra: { with: { paths: [./extensions], watch: true } } } }
`;

/**
 * The same system as a value, so booting it parses no YAML (the YAML parser is the largest module
 * the kernel would load; a test keeps this equal to the text above).
 */
export const DEFAULT_SYSTEM_VALUE = {
  http: { listen: '127.0.0.1:0' },
  components: {
    bus: { use: 'builtin:bus', with: { listen: 'auto' } },
    pit: { use: 'builtin:pit', needs: ['bus'], late: ['conductor'] },
    orchestra: {
      use: 'builtin:orchestra',
      needs: ['bus', 'pit'],
      with: {
        paths: ['./extensions'],
        grants: {
          files: { manifest: 'sha256:438ad2742d899ed6d2e9cb70e0f7478280402887682b1e4302d44290ab261ad4', execution: 'in-process', provides: ['files.list', 'files.read'], publishes: ['files.>'] },
          summarizer: { manifest: 'sha256:3d690b68894de44f9ec4f09c165a1c7fa5bb476724730746642bc286b05a31f5', provides: ['report.text'] },
          'text-stats': { manifest: 'sha256:bf499e4a6c4a3969016fc809ab8857b696d040b038071fe282b9f777d20ef8f0', provides: ['text.stats', 'text.merge'], publishes: ['text.>'], limits: { memoryMb: 128 } },
        },
      },
    },
    conductor: { use: 'builtin:conductor', needs: ['orchestra'] },
  },
  profiles: {
    bare: { components: { orchestra: { with: { paths: [] } } } },
    dev: { components: { orchestra: { with: { paths: ['./extensions'], watch: true } } } },
  },
};
