/*
 * TEST-ONLY Elasticsearch plugin for es-secure's real-ES test harness.
 *
 * Why it exists: the Maven Central integ-test-zip distribution ships without the
 * `analysis-common` module. The `.security` index settings (SecuritySystemIndices
 * #getMainIndexSettings) define an `email` analyzer built from the tokenizer
 * `uax_url_email` and the filters `pattern_capture` (custom, named `email`),
 * `lowercase` and `unique`. `lowercase` is pre-configured by the server itself;
 * the other three come from analysis-common. Without them the `.security` index
 * cannot be created ("Unknown filter type [pattern_capture]") and every native-realm
 * write (change password, create user) fails.
 *
 * This plugin registers exactly those three names, backed by Lucene's own classes
 * from lib/lucene-analysis-common-*.jar (PatternCaptureGroupTokenFilter,
 * UAX29URLEmailTokenizer). `unique` is a tiny re-implementation because its stock
 * implementation is an Elasticsearch class inside analysis-common, not a Lucene one.
 *
 * It is compiled by scripts/test-env.sh against each pinned ES version and installed
 * only into the test cache's pristine copy. It must never ship with es-secure.
 */
package org.essecure.testshim;

import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.elasticsearch.index.analysis.PreConfiguredTokenFilter;
import org.elasticsearch.index.analysis.PreConfiguredTokenizer;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

public class EsSecureTestShimPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        // `pattern_capture` is only usable with settings (patterns), like the stock one.
        AnalysisProvider<TokenFilterFactory> patternCapture = (indexSettings, env, name, settings) -> {
            boolean preserveOriginal = settings.getAsBoolean("preserve_original", true);
            List<String> raw = settings.getAsList("patterns");
            if (raw.isEmpty()) {
                throw new IllegalArgumentException("pattern_capture filter [" + name + "] needs [patterns]");
            }
            Pattern[] patterns = raw.stream().map(Pattern::compile).toArray(Pattern[]::new);
            return new TokenFilterFactory() {
                @Override
                public String name() {
                    return name;
                }

                @Override
                public TokenStream create(TokenStream in) {
                    return new PatternCaptureGroupTokenFilter(in, preserveOriginal, patterns);
                }
            };
        };
        return Map.of("pattern_capture", AnalysisPlugin.requiresAnalysisSettings(patternCapture));
    }

    @Override
    public List<PreConfiguredTokenizer> getPreConfiguredTokenizers() {
        return List.of(PreConfiguredTokenizer.singleton("uax_url_email", UAX29URLEmailTokenizer::new));
    }

    @Override
    public List<PreConfiguredTokenFilter> getPreConfiguredTokenFilters() {
        return List.of(PreConfiguredTokenFilter.singleton("unique", false, UniqueFilter::new));
    }

    /** Drops every token whose term text was already emitted in this stream. */
    static final class UniqueFilter extends TokenFilter {
        private final CharTermAttribute term = addAttribute(CharTermAttribute.class);
        private final CharArraySet seen = new CharArraySet(8, false);

        UniqueFilter(TokenStream in) {
            super(in);
        }

        @Override
        public boolean incrementToken() throws IOException {
            while (input.incrementToken()) {
                if (seen.contains(term.buffer(), 0, term.length()) == false) {
                    seen.add(Arrays.copyOf(term.buffer(), term.length()));
                    return true;
                }
            }
            return false;
        }

        @Override
        public void reset() throws IOException {
            super.reset();
            seen.clear();
        }
    }
}
